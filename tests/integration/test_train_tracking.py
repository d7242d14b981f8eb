"""MLflow runs, the registry and the champion gate, with a real MLflow store in a temp dir."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from advocacy.models import tracking
from advocacy.models.splits import split_for_target
from advocacy.models.train import FittedTarget, fit_target
from mlflow.tracking import MlflowClient

from advocacy.settings import Settings
from tests.unit.test_models_train import CATEGORICAL, FEATURES, frame_settings, make_frame

pytestmark = pytest.mark.slow

AS_OF = "2025-12-01"
FINGERPRINT = {"as_of": AS_OF, "inputs": {"contacts": {"rows": 3000, "sha256": "ab12"}}}


def _fit(frame: pd.DataFrame, target: str, features=FEATURES) -> FittedTarget:
    cats = [c for c in CATEGORICAL if c in features]
    return fit_target(frame, target, frame_settings(), features=features, categorical=cats)


@pytest.fixture(scope="module")
def good() -> dict[str, FittedTarget]:
    return {target: _fit(make_frame(seed=1), target) for target in ("advocate", "burnout")}


@pytest.fixture(scope="module")
def weak() -> FittedTarget:
    """Trained on labels shuffled within the training period; the holdout keeps the truth."""
    frame = make_frame(seed=1)
    split = split_for_target(frame, "advocate", Settings())
    train = np.concatenate([split.fit_idx, split.valid_idx])
    rng = np.random.default_rng(7)
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
    tracking._ensure_experiment(mlflow_store, store)
    experiment = mlflow.get_experiment_by_name(store.tracking.experiment)
    assert experiment.artifact_location == (tmp_path / "mlartifacts").resolve().as_uri()
    assert tracking.configure_tracking(store)  # idempotent: the experiment already exists


def test_first_training_registers_both_and_sets_champion(store, good):
    client = MlflowClient()
    for target, fitted in good.items():
        outcome = _promote(fitted, store)
        assert (outcome.version, outcome.promoted, outcome.champion_before) == (1, True, None)
        assert "no champion" in outcome.decision
        name = tracking.model_name_for(target, store)
        assert int(client.get_model_version_by_alias(name, "champion").version) == 1
        run = client.get_run(outcome.run_id)
        for key in ("holdout_model_auc", "holdout_nps_auc", "holdout_logreg_auc"):
            assert run.data.metrics[key] == pytest.approx(outcome.metrics[key])
        assert run.data.params["split.holdout_start"] == str(fitted.split.holdout_start)
        assert run.data.params["best_iteration"] == str(fitted.best_iteration)
        assert run.data.params["data.inputs.contacts.sha256"] == "ab12"
        assert run.data.tags["promotion.promoted"] == "true"
        files = {a.path for a in client.list_artifacts(outcome.run_id)}
        assert {"model_card.md", "features.json", "holdout.parquet", "plots"} <= files
        card = mlflow.artifacts.load_text(f"runs:/{outcome.run_id}/model_card.md")
        assert "Ask-selection bias" in card or target == "burnout"
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


def test_champion_reproduces_the_logged_holdout_predictions(store, good):
    outcome = _promote(good["burnout"], store)
    model, version = tracking.load_champion(outcome.model_name, store)
    assert version == 1
    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{outcome.run_id}/holdout.parquet"))
    holdout = pd.read_parquet(local)
    np.testing.assert_allclose(model.predict(holdout[FEATURES]), holdout["p"], rtol=1e-12)
    assert tracking.champion_run_id(outcome.model_name, store) == outcome.run_id


def test_encoder_round_trips_through_mlflow_with_text_categoricals(store, good):
    fitted = good["advocate"]
    outcome = _promote(fitted, store)
    loaded, _ = tracking.load_champion(outcome.model_name, store)
    rows = fitted.holdout_features.head(6).copy()
    rows["account_segment"] = pd.Series(
        ["enterprise", "smb", None, "government", "mid_market", "smb"], dtype="str"
    )
    np.testing.assert_allclose(loaded.predict(rows), fitted.model.predict_proba(rows))
    unwrapped = loaded.unwrap_python_model()
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
        tracking.load_champion("advocacy-propensity", store)
    tracking._ensure_experiment(mlflow_store, store)
    with pytest.raises(tracking.NoChampionError, match="advocacy-propensity has no @champion"):
        tracking.load_champion("advocacy-propensity", store)
