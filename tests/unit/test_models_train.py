"""fit_target on generated frames with a known signal: split, early stopping, calibration,
monotone constraints, baselines, and honest failures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from advocacy.models.targets import ADVOCATE, TARGETS, TargetSpec
from advocacy.models.train import (
    FittedTarget,
    TrainingRowsError,
    fit_target,
    monotone_constraints,
)
from advocacy.settings import Settings
from tests.model_frames import CATEGORICAL, FEATURES, frame_spec, make_frame, with_training


def fit(
    frame: pd.DataFrame,
    target: str = "advocate",
    settings: Settings | None = None,
    spec: TargetSpec | None = None,
):
    return fit_target(
        frame,
        spec or frame_spec(target),
        settings or Settings(),
        features=FEATURES,
        categorical=CATEGORICAL,
    )


@pytest.fixture(scope="module")
def fitted() -> FittedTarget:
    return fit(make_frame())


def test_learns_the_signal_and_beats_the_nps_rule(fitted):
    model, nps = fitted.metrics["model"], fitted.metrics["baseline_nps"]
    assert model["auc"] > 0.78
    assert model["auc"] > nps["auc"] + 0.02
    assert model["log_loss"] < nps["log_loss"]
    assert set(fitted.metrics) == {"model", "baseline_nps", "baseline_logreg"}


def test_holdout_predictions_are_the_newest_rows_and_match_the_model(fitted):
    frame = make_frame()
    hold = fitted.holdout
    assert list(hold.columns[:4]) == ["contact_id", "t", "label", "p"]
    assert hold["t"].min() == fitted.split.holdout_start
    assert hold["t"].min() > frame["t"].iloc[fitted.split.fit_idx].max()
    assert len(hold) == fitted.metrics["model"]["n_rows"]
    np.testing.assert_allclose(
        fitted.holdout_model.predict_proba(fitted.holdout_features), hold["p"]
    )
    assert fitted.refit_rows == len(frame)
    assert hold["p"].between(0, 1).all()


def test_rounds_from_time_folds_and_calibration_on_out_of_fold_margins(fitted):
    assert 1 <= fitted.best_iteration < Settings().training.lightgbm.max_rounds
    # the calibrated holdout mean is close to the holdout base rate
    assert abs(fitted.holdout["p"].mean() - fitted.holdout["label"].mean()) < 0.05
    assert fitted.calibration in {"isotonic", "sigmoid"}


def test_few_out_of_fold_rows_fall_back_to_sigmoid_and_many_keep_isotonic():
    frame = make_frame(n=1500)
    small = fit(
        frame,
        settings=with_training(Settings(), calibration="isotonic", isotonic_min_rows=10_000),
    )
    large = fit(
        frame,
        settings=with_training(Settings(), calibration="isotonic", isotonic_min_rows=10),
    )
    assert small.calibration == "sigmoid"
    assert large.calibration == "isotonic"


def test_monotone_constraint_holds_even_against_the_data():
    # the true effect of asks is negative; constrain it to be non-decreasing (as for burnout)
    fitted = fit(make_frame(), target="burnout")
    assert fitted.params["monotone_constraints"][FEATURES.index("adv_asks_90d")] == 1
    rows = fitted.holdout_features.head(50)
    previous = None
    for asks in range(0, 8):
        p = fitted.model.predict_proba(rows.assign(adv_asks_90d=float(asks)))
        if previous is not None:
            assert (p >= previous - 1e-12).all()
        previous = p


def test_unknown_monotone_feature_is_refused():
    spec = dataclasses.replace(ADVOCATE, monotone={"not_a_feature*": 1})
    with pytest.raises(ValueError, match=r"not_a_feature.*advocate"):
        fit(make_frame(n=600), spec=spec)


def test_too_few_rows_and_missing_columns_are_refused():
    with pytest.raises(ValueError, match="min_rows"):
        fit(make_frame(n=100))
    with pytest.raises(ValueError, match="noise"):
        fit(make_frame(n=600).drop(columns="noise"))


def test_shuffled_labels_learn_nothing():
    frame = make_frame()
    frame["label"] = np.random.default_rng(3).permutation(frame["label"].to_numpy())
    assert abs(fit(frame).metrics["model"]["auc"] - 0.5) < 0.06


def test_unseen_and_missing_categories_score_without_error(fitted):
    rows = fitted.holdout_features.head(3).copy()
    rows["account_segment"] = ["government", None, "smb"]
    p = fitted.model.predict_proba(rows)
    assert np.isfinite(p).all()


def test_contributions_sum_to_the_raw_score(fitted):
    X = fitted.holdout_features.head(20)
    contrib = fitted.model.contributions(X)
    assert list(contrib.columns) == [*FEATURES, "bias"]
    raw = fitted.model.classifier.predict_proba(fitted.model.encode(X), raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, rtol=1e-6, atol=1e-9)


def test_empty_input_gives_empty_output(fitted):
    empty = fitted.holdout_features.head(0)
    assert fitted.model.predict_proba(empty).shape == (0,)
    assert list(fitted.model.contributions(empty).columns) == [*FEATURES, "bias"]


def test_figures_are_produced(fitted):
    assert set(fitted.figures) == {"roc_pr.png", "calibration.png", "lift.png", "importance.png"}
    assert fitted.importance.index[0] == "nps_latest"


def test_tuning_is_reproducible_and_reported():
    settings = with_training(Settings(), tune_trials=4, tune_folds=2, tune_min_rows=0)
    one, two = (fit(make_frame(n=1500), settings=settings) for _ in range(2))
    assert one.tuning == {**two.tuning, "seconds": one.tuning["seconds"]}
    assert one.tuning["trials"] == 4 and one.params["num_leaves"] == two.params["num_leaves"]


def test_monotone_globs_expand_to_every_matching_feature():
    spec = dataclasses.replace(ADVOCATE, monotone={"usage_*": 1, "adv_asks": -1})
    names = ["usage_events_7d", "usage_events_30d", "adv_asks", "adv_asks_90d", "nps_latest"]
    assert monotone_constraints(spec, names) == [1, 1, -1, 0, 0]


@pytest.mark.parametrize("spec", TARGETS, ids=lambda s: s.name)
def test_default_monotone_constraints_name_registry_features(spec):
    from advocacy.features import registry

    constraints = monotone_constraints(spec, registry.feature_names())
    assert any(constraints)


def test_the_fitted_target_carries_its_spec(fitted):
    assert fitted.spec == frame_spec("advocate") and fitted.target == "advocate"
    assert fitted.model.target == "advocate"
    with pytest.raises(TrainingRowsError) as refused:  # a name is looked up among the specs
        fit_target(make_frame(n=50), "advocate", Settings(), features=FEATURES)
    assert refused.value.spec is ADVOCATE and refused.value.target == "advocate"
    assert str(refused.value).startswith("p_advocate (advocacy-propensity): 50 training rows")


def test_small_frames_get_smaller_leaves_and_large_ones_the_setting():
    from advocacy.models.train import leaf_rows

    assert leaf_rows(100, None) == 100
    assert leaf_rows(100, 50_000) == 100  # 2% of the rows is above the setting
    assert leaf_rows(100, 2_500) == 50
    assert leaf_rows(100, 300) == 20  # never fewer than 20 rows per leaf
    assert leaf_rows(10, 300) == 10  # a smaller setting is kept


@pytest.mark.parametrize(
    ("n_rows", "expected"), [(5000, True), (19_999, True), (20_000, False), (None, False)]
)
def test_extra_trees_only_on_frames_below_the_tuning_size(n_rows, expected):
    """Random split thresholds where the defaults decide (< 20,000 rows, docs/models.md
    "Peer comparison"); greedy splits at and above it, and when the size is unknown."""
    from advocacy.models.train import lightgbm_params

    params = lightgbm_params(frame_spec("advocate"), FEATURES, Settings(), n_rows=n_rows)
    assert params["extra_trees"] is expected


def test_a_small_fit_trains_extra_trees_and_keeps_them_in_the_refit(fitted):
    assert fitted.params["extra_trees"] is True  # make_frame is far below 20,000 rows
    assert fitted.model is not fitted.holdout_model  # the registered model is the refit
    for model in (fitted.holdout_model, fitted.model):
        assert model.classifier.booster_.params["extra_trees"] is True


@pytest.mark.parametrize(
    ("n_rows", "large", "expected"),
    [(199_999, 0.1, 0.05), (200_000, 0.1, 0.1), (None, 0.1, 0.05), (1_000_000, None, 0.05)],
)
def test_large_frames_learn_at_learning_rate_large_unless_it_is_null(n_rows, large, expected):
    """Fewer, larger steps from 200,000 rows (fewer trees to explain); null turns it off."""
    from advocacy.models.train import lightgbm_params
    from advocacy.settings import settings_from_mapping

    settings = settings_from_mapping({"training": {"lightgbm": {"learning_rate_large": large}}})
    params = lightgbm_params(frame_spec("advocate"), FEATURES, settings, n_rows=n_rows)
    assert params["learning_rate"] == expected
