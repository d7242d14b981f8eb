"""MLflow: one run per model per training, the registry, and the champion gate.

A new version is always registered (so every training is inspectable), but it becomes
`@champion` only when, on the NEW holdout, it is at least as good as the current champion
scored on the same rows. Scoring jobs load models by that alias, never "the latest".
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.metrics import log_loss, roc_auc_score

from advocacy_settings import Settings
from models.evaluate import METRIC_NAMES
from models.model_card import render_model_card
from models.pyfunc_model import FeatureColumnsError
from models.train import BASELINE_LOGREG, BASELINE_NPS, MODEL, FittedTarget

log = logging.getLogger(__name__)

TRACKING_ENV = "MLFLOW_TRACKING_URI"
SQLITE_PREFIX = "sqlite:///"
INPUT_EXAMPLE_ROWS = 5
REASON_MAX_CHARS = 300
PARAM_MAX_CHARS = 6000  # MLflow's limit on a param value
PARAM_KEY = re.compile(r"[\w\-. :/]+")  # what MLflow accepts in a param name
# What the pyfunc needs to load elsewhere (the `models` package itself must be importable).
MODEL_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "cloudpickle")
MODEL_ARTIFACT = "model"
HOLDOUT_FILE = "holdout.parquet"
MODEL_CARD_FILE = "model_card.md"
FINGERPRINT_FILE = "data_fingerprint.json"
IMPORTANCE_FILE = "importance.csv"
# A champion that fails with these on the new rows was built for another schema or code version.
# Anything else (I/O, a server down) propagates: that is not a reason to replace the champion.
CHAMPION_CANNOT_SCORE = (
    MlflowException,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
)
# Run metric names: holdout_<predictor>_<metric>, e.g. holdout_model_auc, holdout_nps_auc.
METRIC_PREFIX = {
    MODEL: "holdout_model",
    BASELINE_NPS: "holdout_nps",
    BASELINE_LOGREG: "holdout_logreg",
}


class NoChampionError(LookupError):
    """The registered model has no version carrying the champion alias."""


@dataclass(frozen=True)
class RegistryOutcome:
    target: str
    run_id: str
    model_name: str
    version: int
    promoted: bool
    decision: str
    champion_before: int | None
    metrics: dict[str, float]


def _artifact_location(uri: str, settings: Settings) -> str | None:
    """Artifacts of a local SQLite store go next to the database file; servers choose their own."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    db_path = Path(uri[len(SQLITE_PREFIX) :])
    folder = Path(settings.tracking.default_artifact_dir)
    if not folder.is_absolute():
        folder = db_path.parent / folder
    return folder.resolve().as_uri()


def configure_tracking(settings: Settings) -> str:
    """Point MLflow at $MLFLOW_TRACKING_URI (else the settings' local SQLite) and the experiment."""
    uri = os.environ.get(TRACKING_ENV) or settings.tracking.default_tracking_uri
    mlflow.set_tracking_uri(uri)
    name = settings.tracking.experiment
    if mlflow.get_experiment_by_name(name) is None:
        try:
            mlflow.create_experiment(name, artifact_location=_artifact_location(uri, settings))
        except MlflowException:  # created meanwhile by a concurrent run
            if mlflow.get_experiment_by_name(name) is None:
                raise
    mlflow.set_experiment(name)
    log.info("MLflow tracking at %s, experiment %s", uri, name)
    return uri


def model_name_for(target: str, settings: Settings) -> str:
    if target == "advocate":
        return settings.tracking.advocate_model_name
    if target == "burnout":
        return settings.tracking.burnout_model_name
    raise ValueError(f"unknown target {target!r}")


def flat_metrics(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """`holdout_model_auc`, `holdout_nps_auc`, `holdout_logreg_auc`, ... side by side."""
    return {
        f"{METRIC_PREFIX.get(predictor, predictor)}_{name}": float(values[name])
        for predictor, values in metrics.items()
        for name in METRIC_NAMES
    }


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    """Nested settings as dotted MLflow params (`training.lightgbm.num_leaves`)."""
    if isinstance(value, Mapping) and value and all(PARAM_KEY.fullmatch(str(k)) for k in value):
        out: dict[str, str] = {}
        for key, sub in value.items():
            out.update(_flatten(f"{prefix}.{key}", sub))
        return out
    text = json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
    return {prefix: text[:PARAM_MAX_CHARS]}  # the full values are in the JSON artifacts


def run_params(fitted: FittedTarget, settings: Settings) -> dict[str, str]:
    """Settings that shaped this model, the split boundaries, and the booster's parameters."""
    dumped = settings.model_dump(mode="json")
    params: dict[str, str] = {}
    for section in ("windows", "training", "promotion"):
        params.update(_flatten(section, dumped[section]))
    params.update({f"split.{k}": str(v) for k, v in fitted.split.as_params().items()})
    params.update(
        {f"lgbm.{k}": str(v) for k, v in fitted.params.items() if k != "monotone_constraints"}
    )
    params.update(
        {"best_iteration": str(fitted.best_iteration), "n_features": str(len(fitted.features))}
    )
    return params


def _requirements() -> list[str]:
    return [f"{name}=={package_version(name)}" for name in MODEL_REQUIREMENTS]


def _log_model(fitted: FittedTarget, model_name: str) -> int:
    """Log the pyfunc (signature + input example from raw holdout rows) and register it."""
    rows = fitted.holdout_features  # all holdout rows: a column's nulls anywhere make it optional
    signature = infer_signature(rows, fitted.holdout["p"].to_numpy())
    example = rows.head(INPUT_EXAMPLE_ROWS)
    info = mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=fitted.model,
        signature=signature,
        input_example=example,
        pip_requirements=_requirements(),
        registered_model_name=model_name,
    )
    return int(info.registered_model_version)


def _log_parquet(frame: pd.DataFrame, artifact_file: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / artifact_file
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _log_artifacts(
    fitted: FittedTarget, model_name: str, as_of: Any, data_fingerprint: Mapping[str, Any]
) -> None:
    """Features, fingerprint, figures, model card, and the holdout rows with their scores."""
    features = {"features": fitted.features, "categorical": fitted.categorical}
    mlflow.log_dict(features, "features.json")
    mlflow.log_dict(json.loads(json.dumps(dict(data_fingerprint), default=str)), FINGERPRINT_FILE)
    mlflow.log_dict(fitted.model.encoder.to_dict(), "encoder.json")
    mlflow.log_text(fitted.importance.to_csv(), IMPORTANCE_FILE)
    for name, fig in fitted.figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
    card = render_model_card(
        fitted, model_name=model_name, as_of=as_of, data_fingerprint=data_fingerprint
    )
    mlflow.log_text(card, MODEL_CARD_FILE)
    _log_parquet(fitted.holdout.join(fitted.holdout_features), HOLDOUT_FILE)


def _champion_version(client: MlflowClient, model_name: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:  # no such model or no such alias yet
        return None


def _score_champion(model_name: str, version: int, fitted: FittedTarget) -> dict[str, float]:
    """The champion's AUC and log loss on the NEW holdout rows (raises if it cannot score)."""
    champion = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    schema = champion.metadata.get_input_schema()
    missing = sorted(set(schema.input_names() if schema else []) - set(fitted.holdout_features))
    if missing:
        raise FeatureColumnsError(f"the new rows lack the champion's columns {missing}")
    p = np.asarray(champion.predict(fitted.holdout_features), dtype=float)
    y = fitted.holdout["label"].to_numpy(dtype=int)
    return {
        "auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 0.0, 1.0), labels=[0, 1])),
    }


def decide_promotion(
    new: Mapping[str, float], champion: Mapping[str, float] | None, settings: Settings
) -> tuple[bool, str]:
    """The gate: AUC may drop at most auc_tolerance, log loss may rise at most logloss_tolerance."""
    if champion is None:
        return True, "no champion yet"
    tol = settings.promotion
    auc_ok = new["auc"] >= champion["auc"] - tol.auc_tolerance
    loss_ok = new["log_loss"] <= champion["log_loss"] + tol.logloss_tolerance
    detail = (
        f"AUC {new['auc']:.4f} vs champion {champion['auc']:.4f} (tolerance {tol.auc_tolerance}), "
        f"log loss {new['log_loss']:.4f} vs champion {champion['log_loss']:.4f} "
        f"(tolerance {tol.logloss_tolerance}) on the new holdout"
    )
    if auc_ok and loss_ok:
        return True, f"beats or matches the champion: {detail}"
    failed = " and ".join(n for n, ok in (("AUC", auc_ok), ("log loss", loss_ok)) if not ok)
    return False, f"kept the champion: {failed} worse; {detail}"


def _short_reason(exc: Exception) -> str:
    """One readable line: MLflow's schema errors embed the whole frame before 'Error: '."""
    text = str(exc).rsplit("Error: ", 1)[-1].strip()
    return (text.splitlines() or [""])[0][:REASON_MAX_CHARS]


def _gate(
    fitted: FittedTarget, model_name: str, champion_before: int | None, settings: Settings
) -> tuple[bool, str, dict[str, float] | None]:
    """Score the new holdout with the current champion and apply the promotion rule."""
    if champion_before is None:
        return True, "no champion yet: promoted", None
    try:
        champion = _score_champion(model_name, champion_before, fitted)
    except CHAMPION_CANNOT_SCORE as exc:
        why = f"{type(exc).__name__}: {_short_reason(exc)}"
        return (
            True,
            f"champion v{champion_before} could not score the new holdout ({why}): promoted",
            None,
        )
    new = {"auc": fitted.metrics[MODEL]["auc"], "log_loss": fitted.metrics[MODEL]["log_loss"]}
    promoted, decision = decide_promotion(new, champion, settings)
    return promoted, f"v{champion_before}: {decision}", champion


def _record_decision(
    client: MlflowClient,
    model_name: str,
    version: int,
    tags: Mapping[str, str],
    champion: Mapping[str, float] | None,
) -> None:
    """The decision and comparison as tags on the run and on the model version."""
    mlflow.set_tags(tags)
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)
    if champion is not None:
        mlflow.log_metrics({f"champion_{k}": v for k, v in champion.items()})


def log_and_promote(
    fitted: FittedTarget, settings: Settings, *, as_of: Any, data_fingerprint: Mapping[str, Any]
) -> RegistryOutcome:
    """Log one run for one model, register a new version, and move @champion if it earns it."""
    client = MlflowClient()
    model_name = model_name_for(fitted.target, settings)
    alias = settings.tracking.champion_alias
    champion_before = _champion_version(client, model_name, alias)
    metrics = flat_metrics(fitted.metrics)
    with mlflow.start_run(run_name=f"{fitted.target}-{as_of}") as run:
        mlflow.set_tags({"target": fitted.target, "as_of": str(as_of), "model_name": model_name})
        mlflow.log_params(run_params(fitted, settings))
        mlflow.log_params(_flatten("data", json.loads(json.dumps(data_fingerprint, default=str))))
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        _log_artifacts(fitted, model_name, as_of, data_fingerprint)
        version = _log_model(fitted, model_name)
        promoted, decision, champion = _gate(fitted, model_name, champion_before, settings)
        tags = {
            "promotion.promoted": str(promoted).lower(),
            "promotion.decision": decision,
            "promotion.champion_before": str(champion_before) if champion_before else "none",
            "promotion.new_auc": f"{metrics['holdout_model_auc']:.6f}",
            "promotion.new_log_loss": f"{metrics['holdout_model_log_loss']:.6f}",
            **{f"promotion.champion_{k}": f"{v:.6f}" for k, v in (champion or {}).items()},
        }
        _record_decision(client, model_name, version, tags, champion)
        if promoted:
            client.set_registered_model_alias(model_name, alias, str(version))
    log.info("%s v%d: %s", model_name, version, decision)
    return RegistryOutcome(
        target=fitted.target,
        run_id=run.info.run_id,
        model_name=model_name,
        version=version,
        promoted=promoted,
        decision=decision,
        champion_before=champion_before,
        metrics=metrics,
    )


def load_champion(model_name: str, settings: Settings) -> tuple[mlflow.pyfunc.PyFuncModel, int]:
    """The current champion (loaded by its pinned version, so alias moves cannot race us)."""
    version = _champion_version(MlflowClient(), model_name, settings.tracking.champion_alias)
    if version is None:
        raise NoChampionError(
            f"{model_name} has no @{settings.tracking.champion_alias} version: run `advocacy train`"
        )
    return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}"), version


def champion_run_id(model_name: str, settings: Settings) -> str:
    """The run that produced the current champion (for its metrics and artifacts)."""
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name, settings.tracking.champion_alias)
    except MlflowException as exc:
        raise NoChampionError(f"{model_name} has no champion") from exc
    return str(mv.run_id)
