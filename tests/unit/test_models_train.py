"""fit_target on generated frames with a known signal: split, early stopping, calibration,
monotone constraints, baselines, and honest failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from advocacy.models.train import FittedTarget, fit_target, monotone_constraints

from advocacy.settings import Settings

NUMERIC = ["nps_latest", "usage_events_30d", "adv_asks_90d", "noise"]
CATEGORICAL = ["account_segment", "contact_persona"]
FEATURES = [*NUMERIC, *CATEGORICAL]


def make_frame(n: int = 3000, seed: int = 0, days: int = 700) -> pd.DataFrame:
    """A feature frame per docs/design.md with a known signal (NPS up, usage up, asks down,
    enterprise up), missing values in both kinds of columns, and a time column."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.2] = np.nan
    usage = rng.gamma(2.0, 5.0, n)
    asks = rng.poisson(1.0, n).astype(float)
    segment = rng.choice(["smb", "mid_market", "enterprise"], n)
    persona = np.where(rng.random(n) < 0.1, None, rng.choice(["executive", "champion", "admin"], n))
    logit = (
        -1.0
        + 0.5 * (np.nan_to_num(nps, nan=5.0) - 5.0)
        + 0.08 * (usage - 10.0)
        - 0.5 * asks
        + 0.8 * (segment == "enterprise")
    )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "contact_id": [f"C{i:07d}" for i in range(n)],
            "account_id": [f"A{i % 300:06d}" for i in range(n)],
            "t": t,
            "nps_latest": nps,
            "usage_events_30d": usage,
            "adv_asks_90d": asks,
            "noise": rng.normal(size=n),
            "account_segment": pd.Series(segment, dtype="str"),
            "contact_persona": pd.Series(persona, dtype="str"),
            "label": label,
        }
    )


def with_training(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update={"training": settings.training.model_copy(update=changes)})


def frame_settings() -> Settings:
    """Default settings with monotone constraints that name this toy frame's features."""
    return with_training(
        Settings(),
        monotone_advocate={"nps_latest": 1, "usage_events_*": 1},
        monotone_burnout={"adv_asks_*d": 1},
    )


def fit(frame: pd.DataFrame, target: str = "advocate", settings: Settings | None = None):
    return fit_target(
        frame, target, settings or frame_settings(), features=FEATURES, categorical=CATEGORICAL
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
    np.testing.assert_allclose(fitted.model.predict_proba(fitted.holdout_features), hold["p"])
    assert hold["p"].between(0, 1).all()


def test_early_stopping_and_calibration_on_valid(fitted):
    assert 1 <= fitted.best_iteration < Settings().training.lightgbm.max_rounds
    # the calibrated holdout mean is close to the holdout base rate
    assert abs(fitted.holdout["p"].mean() - fitted.holdout["label"].mean()) < 0.05
    assert fitted.calibration in {"isotonic", "sigmoid"}


def test_small_valid_slice_falls_back_to_sigmoid_and_large_keeps_isotonic():
    frame = make_frame(n=1500)
    small = fit(
        frame,
        settings=with_training(frame_settings(), calibration="isotonic", isotonic_min_rows=10_000),
    )
    large = fit(
        frame,
        settings=with_training(frame_settings(), calibration="isotonic", isotonic_min_rows=10),
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
    settings = with_training(frame_settings(), monotone_advocate={"not_a_feature*": 1})
    with pytest.raises(ValueError, match="not_a_feature"):
        fit(make_frame(n=600), settings=settings)


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


def test_tune_flag_searches_the_grid():
    settings = with_training(
        frame_settings(),
        tune=True,
        tune_num_leaves=(4, 8),
        tune_min_data_in_leaf=(400,),
        tune_folds=2,
    )
    fitted = fit(make_frame(n=1500), settings=settings)
    assert fitted.params["num_leaves"] in {4, 8}
    assert fitted.params["min_child_samples"] == 400


def test_monotone_globs_expand_to_every_matching_feature():
    settings = with_training(Settings(), monotone_advocate={"usage_*": 1, "adv_asks": -1})
    names = ["usage_events_7d", "usage_events_30d", "adv_asks", "adv_asks_90d", "nps_latest"]
    assert monotone_constraints("advocate", names, settings) == [1, 1, -1, 0, 0]


@pytest.mark.parametrize("target", ["advocate", "burnout"])
def test_default_monotone_constraints_name_registry_features(target):
    from advocacy.features import registry

    constraints = monotone_constraints(target, registry.feature_names(), Settings())
    assert any(constraints)
