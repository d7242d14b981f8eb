"""MLflow runs, the registry and the champion gate, with a real MLflow store in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from advocacy.models import targets, tracking
from advocacy.models.splits import split_for_target
from advocacy.models.targets import ADVOCATE, BURNOUT
from advocacy.models.train import FittedTarget, fit_target
from advocacy.settings import Settings, TrackingSettings
from tests.model_frames import CATEGORICAL, FEATURES, frame_spec, make_frame, with_training

pytestmark = pytest.mark.slow

AS_OF = "2025-12-01"
FINGERPRINT = {"as_of": AS_OF, "inputs": {"contacts": {"rows": 3000, "sha256": "ab12"}}}


def _fit(frame: pd.DataFrame, target: str, features=FEATURES) -> FittedTarget:
    cats = [c for c in CATEGORICAL if c in features]
    return fit_target(frame, frame_spec(target), Settings(), features=features, categorical=cats)


@pytest.fixture(scope="module")
def good() -> dict[str, FittedTarget]:
    return {target: _fit(make_frame(seed=1), target) for target in ("advocate", "burnout")}


@pytest.fixture(scope="module")
def weak() -> FittedTarget:
    """Trained on labels shuffled within the training period; the holdout keeps the truth."""
    frame = make_frame(seed=1)
    split = split_for_target(frame, ADVOCATE, Settings())
    rng = np.random.default_rng(7)
    train = split.fit_idx
    frame.loc[train, "label"] = rng.permutation(frame.loc[train, "label"].to_numpy())
    return _fit(frame, "advocate")


@pytest.fixture
def store(mlflow_store, tmp_path) -> Settings:
    settings = Settings()
    assert tracking.configure_tracking(settings) == mlflow_store
    return settings


def _promote(fitted: FittedTarget, settings: Settings) -> tracking.RegistryOutcome:
    return tracking.log_and_promote(fitted, settings, as_of=AS_OF, data_fingerprint=FINGERPRINT)


def test_configure_tracking_puts_artifacts_next_to_the_database(store, tmp_path, mlflow_store):
    assert not (tmp_path / "mlflow.db").exists()  # first use: created by the first training
    tracking.ensure_experiment(mlflow_store, store)
    experiment = mlflow.get_experiment_by_name(store.tracking.experiment)
    assert experiment.artifact_location == (tmp_path / "mlartifacts").resolve().as_uri()
    assert tracking.configure_tracking(store)  # idempotent: the experiment already exists


def test_first_training_registers_both_and_sets_champion(store, good, capfd, caplog):
    client = MlflowClient()
    for name_of, fitted in good.items():
        capfd.readouterr()
        with caplog.at_level("INFO", logger="advocacy.models.tracking"):
            outcome = _promote(fitted, store)
        # MLflow's own "Successfully registered model" lines go to the log, not the terminal
        assert "Successfully registered" not in capfd.readouterr().err
        assert any("Successfully registered model" in r.getMessage() for r in caplog.records)
        assert (outcome.version, outcome.promoted, outcome.champion_before) == (1, True, None)
        assert "no champion" in outcome.decision
        name = targets.target(name_of).model_name(store)
        assert outcome.model_name == name and outcome.target == name_of
        assert int(client.get_model_version_by_alias(name, "champion").version) == 1
        run = client.get_run(outcome.run_id)
        for key in ("holdout_model_auc", "holdout_nps_auc", "holdout_logreg_auc"):
            assert run.data.metrics[key] == pytest.approx(outcome.metrics[key])
        assert run.data.params["split.holdout_start"] == str(fitted.split.holdout_start)
        assert run.data.params["best_iteration"] == str(fitted.best_iteration)
        assert run.data.params["data.inputs.contacts.sha256"] == "ab12"
        assert run.data.tags["promotion.promoted"] == "true"
        assert (run.data.tags["target"], run.info.run_name) == (name_of, f"{name_of}-{AS_OF}")
        monotone = json.loads(run.data.params[f"training.monotone_{name_of}"])
        assert monotone == dict(fitted.spec.monotone)
        files = {a.path for a in client.list_artifacts(outcome.run_id)}
        assert {"model_card.md", "features.json", "holdout.parquet", "plots"} <= files
        card = mlflow.artifacts.load_text(f"runs:/{outcome.run_id}/model_card.md")
        assert f"({name_of})" in card.splitlines()[0]
        assert fitted.spec.card.caveats[0] in card
        assert "- ranks with: LightGBM" in card
        assert "sha256: ab12" in card
        tags = client.get_model_version(name, "1").tags
        assert tags["promotion.decision"] == outcome.decision


def test_weaker_model_is_registered_but_not_promoted(store, good, weak):
    first = _promote(good["advocate"], store)
    assert weak.metrics["model"]["auc"] < good["advocate"].metrics["model"]["auc"] - 0.1
    outcome = _promote(weak, store)
    assert (outcome.version, outcome.promoted, outcome.champion_before) == (2, False, 1)
    assert "kept the champion" in outcome.decision and "AUC" in outcome.decision
    client = MlflowClient()
    assert int(client.get_model_version_by_alias(first.model_name, "champion").version) == 1
    version_tags = client.get_model_version(first.model_name, "2").tags
    assert version_tags["promotion.promoted"] == "false"
    assert float(version_tags["promotion.champion_auc"]) > float(version_tags["promotion.new_auc"])
    assert "champion_auc" in client.get_run(outcome.run_id).data.metrics


def test_champion_is_the_refit_model_and_scores_exactly_as_trained(store, good):
    outcome = _promote(good["burnout"], store)
    champion = tracking.load_champion(BURNOUT, store)
    assert (champion.spec, champion.name, champion.version) == (BURNOUT, outcome.model_name, 1)
    assert champion.run_id == outcome.run_id
    assert champion.metrics["holdout_model_auc"] == pytest.approx(
        outcome.metrics["holdout_model_auc"]
    )
    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{outcome.run_id}/holdout.parquet"))
    holdout = pd.read_parquet(local)
    assert np.array_equal(holdout["p"], good["burnout"].holdout["p"])  # the holdout model's
    trained = good["burnout"].model.predict_proba(holdout[FEATURES])  # refit on all rows
    assert not np.allclose(trained, holdout["p"])
    np.testing.assert_allclose(champion.model.predict_proba(holdout[FEATURES]), trained, rtol=1e-12)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{champion.name}@champion")  # as served
    np.testing.assert_allclose(pyfunc.predict(holdout[FEATURES]), trained, rtol=1e-12)
    assert tracking.champion_run_id(BURNOUT, store) == outcome.run_id


def test_encoder_round_trips_through_mlflow_with_text_categoricals(store, good):
    fitted = good["advocate"]
    _promote(fitted, store)
    unwrapped = tracking.load_champion(ADVOCATE, store).model
    rows = fitted.holdout_features.head(6).copy()
    rows["account_segment"] = pd.Series(
        ["enterprise", "smb", None, "government", "mid_market", "smb"], dtype="str"
    )
    np.testing.assert_allclose(unwrapped.predict_proba(rows), fitted.model.predict_proba(rows))
    assert unwrapped.encoder == fitted.model.encoder
    contrib = unwrapped.contributions(rows)
    assert list(contrib.columns) == [*FEATURES, "bias"]


def test_champion_that_cannot_score_the_new_schema_is_replaced_and_says_why(store, good):
    _promote(good["advocate"], store)
    fewer = [f for f in FEATURES if f != "noise"]
    outcome = _promote(_fit(make_frame(seed=1).drop(columns="noise"), "advocate", fewer), store)
    assert outcome.promoted and outcome.version == 2
    assert "could not score" in outcome.decision and "noise" in outcome.decision
    assert "FeatureColumnsError" in outcome.decision


def test_no_store_and_no_champion_are_clear_errors(store, mlflow_store):
    with pytest.raises(tracking.TrackingStoreError, match=r"no MLflow tracking store.*champion"):
        tracking.load_champion(ADVOCATE, store)
    tracking.ensure_experiment(mlflow_store, store)
    with pytest.raises(tracking.NoChampionError, match="advocacy-propensity has no @champion"):
        tracking.load_champion(ADVOCATE, store)


def test_model_names_setting_sends_versions_to_another_registered_model(store, good):
    renamed = store.model_copy(
        update={"tracking": TrackingSettings(model_names={"advocate": "team-propensity"})}
    )
    outcome = _promote(good["advocate"], renamed)
    assert outcome.model_name == "team-propensity" and outcome.promoted
    assert tracking.load_champion(ADVOCATE, renamed).name == "team-propensity"
    with pytest.raises(tracking.NoChampionError, match="advocacy-propensity has no @champion"):
        tracking.load_champion(ADVOCATE, store)


def test_a_champion_that_learnt_from_the_new_holdout_is_judged_by_its_own_record(store):
    frame = make_frame(seed=2)
    older = frame[frame["t"] < frame["t"].quantile(0.9)].reset_index(drop=True)
    first = _promote(_fit(older, "advocate"), store)
    until = pd.Timestamp(older["t"].max())
    tags = MlflowClient().get_model_version(first.model_name, "1").tags
    assert pd.Timestamp(tags[tracking.TAG_TRAINED_UNTIL]) == until
    newer = _fit(frame, "advocate")
    assert newer.holdout["t"].min() < until  # the refit champion saw part of the new holdout
    outcome = _promote(newer, store)
    assert "the champion learnt from the new holdout's rows" in outcome.decision
    recorded = MlflowClient().get_run(first.run_id).data.metrics[f"{tracking.RANKER_PREFIX}_auc"]
    assert f"vs champion {recorded:.4f}" in outcome.decision


def test_a_champion_trained_before_the_new_holdout_is_scored_on_it(store):
    frame = make_frame(seed=2)
    settings = with_training(Settings(), refit=False)  # the registered model = train period
    spec = frame_spec("advocate")
    cats = [c for c in CATEGORICAL if c in FEATURES]
    old = frame[frame["t"] < frame["t"].quantile(0.6)].reset_index(drop=True)
    first = fit_target(old, spec, settings, features=FEATURES, categorical=cats)
    _promote(first, store)
    outcome = _promote(_fit(frame, "advocate"), store)
    assert "on the new holdout" in outcome.decision
