"""MLflow: one run per model per training, the registry, and the champion gate.

A training goes through two steps:

1. `register_candidate(fitted, ...)`, once per target: log the run and register a new model
   version (the *candidate*). Idempotent: a run key (sha256 of target, as_of, the data
   fingerprint, the training settings and the fitted booster) is a tag on the run and on the
   version, and a retry finds and reuses them instead of logging again.
2. `promote_candidates([...])`, once for all targets, only after every candidate is registered:
   under the registry lock, re-read each current `@champion`, score it on the NEW holdout, apply
   the gate (`models/gate.py`), record the decision as tags on the run and the version, and move
   the aliases. All champions are scored before anything is written, and a failure while writing
   rolls the aliases of this step back, so either every earned promotion happens or none does.
   Retrying the step is harmless.

Small-data fallback (`models/fallback.py`, docs/fallback.md): a target whose LightGBM model the
holdout does not trust is registered with the NPS rule instead. Such a version is logged,
registered and tagged like any other (`advocacy.ranker` = `nps_rule`, `advocacy.fallback_reason`,
`advocacy.trust`), and it carries the numbers of the ranker it holds: the gate judges the
calibrated rule's own holdout AUC and log loss (`holdout_ranker_*`) against the champion scored
on the same holdout rows, whatever either ranker is. So a fallback replaces a LightGBM champion
only when it does at least as well on those rows; otherwise the champion keeps scoring, and the
report says which ranker the champion is.

Scoring jobs load models by that alias, never "the latest". A missing or emptied local store is
an error (`TrackingStoreError`), not a silently re-created empty registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
import pandas as pd
import psutil
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature, validate_schema
from mlflow.tracking import MlflowClient
from sklearn.metrics import log_loss, roc_auc_score

from advocacy.models import fallback, gate
from advocacy.models.evaluate import METRIC_NAMES
from advocacy.models.model_card import render_model_card
from advocacy.models.pyfunc_model import CODE_FILE, REQUIREMENTS, is_feature_columns_error
from advocacy.models.registry_lock import RegistryBusyError, registry_lock, sqlite_path
from advocacy.models.targets import TargetSpec
from advocacy.models.telemetry import disable_telemetry
from advocacy.models.train import BASELINE_LOGREG, BASELINE_NPS, MODEL, FittedTarget
from advocacy.settings import Settings

# MLflow built its telemetry client at import; drop it before any tracked call can start it.
disable_telemetry()

log = logging.getLogger(__name__)

TRACKING_ENV = "MLFLOW_TRACKING_URI"
INPUT_EXAMPLE_ROWS = 5
REASON_MAX_CHARS = 300
PARAM_MAX_CHARS = 6000  # MLflow's limit on a param value
PARAM_KEY = re.compile(r"[\w\-. :/]+")  # what MLflow accepts in a param name
MODEL_ARTIFACT = "model"
HOLDOUT_FILE = "holdout.parquet"
MODEL_CARD_FILE = "model_card.md"
FINGERPRINT_FILE = "data_fingerprint.json"
IMPORTANCE_FILE = "importance.csv"
# Run metric names: holdout_<predictor>_<metric>, e.g. holdout_model_auc, holdout_nps_auc.
METRIC_PREFIX = {
    MODEL: "holdout_model",
    BASELINE_NPS: "holdout_nps",
    BASELINE_LOGREG: "holdout_logreg",
}
RANKER_PREFIX = "holdout_ranker"  # the carried ranker's own holdout numbers (what the gate uses)
# Tags this project sets on runs (and the run key also on model versions).
TAG_RUN_KEY = "advocacy.run_key"
TAG_RANKER = "advocacy.ranker"  # lightgbm | nps_rule (runs and versions)
TAG_FALLBACK_REASON = "advocacy.fallback_reason"  # only on fallback versions: why
TAG_TRAINED_UNTIL = "advocacy.trained_until"  # newest row t the registered model learnt from
TAG_TRUST = "advocacy.trust"  # `Trust.to_dict()` as JSON: the holdout's verdict and numbers
TAG_MODEL_URI = "advocacy.model_uri"
TAG_HOST = "advocacy.host"
TAG_PID = "advocacy.pid"
TAG_FAILED_REASON = "advocacy.failed_reason"
PROMOTION_PREFIX = "promotion."
CAS_ATTEMPTS = 5  # non-SQLite stores: re-gates when the alias moved under us
SQLITE_HEADER = b"SQLite format 3\x00"
MLFLOW_TABLES = frozenset({"alembic_version", "experiments", "runs", "registered_models"})
NEW_STORE_HINT = "rerun with --new-store (tracking.allow_new_store: true)"

StoreState = Literal["new", "existing", "remote"]


class RegistryError(Exception):
    """The tracking store or the model registry is not in a state this project can use."""


class TrackingStoreError(RegistryError):
    """The tracking store is missing, empty or not an MLflow database."""


class NoChampionError(RegistryError, LookupError):
    """The registered model has no version carrying the champion alias."""


class ChampionArtifactError(RegistryError):
    """The champion's model version exists but its artifacts are missing or unreadable."""


@dataclass(frozen=True)
class Candidate:
    """One registered (not yet judged) model version of one training."""

    target: str
    run_id: str
    model_name: str
    version: int
    run_key: str
    metrics: dict[str, float]
    reused: bool  # found from an earlier attempt of the same training, not logged again
    fitted: FittedTarget = field(repr=False, compare=False)

    @property
    def ranker(self) -> str:
        return ranker_of(self.fitted)


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
    reused: bool = False
    ranker: str = fallback.LIGHTGBM  # what the new version ranks with
    fallback_reason: str = ""  # why it is not LightGBM ('' when it is)


# ------------------------------------------------------------------ the store
def store_uri(settings: Settings) -> str:
    return os.environ.get(TRACKING_ENV) or settings.tracking.default_tracking_uri


def _artifact_dir(db: Path, settings: Settings) -> Path:
    folder = Path(settings.tracking.default_artifact_dir)
    return folder if folder.is_absolute() else db.parent / folder


def _artifact_location(uri: str, settings: Settings) -> str | None:
    """Artifacts of a local SQLite store go next to the database file; servers choose their own."""
    db = sqlite_path(uri)
    return None if db is None else _artifact_dir(db, settings).resolve().as_uri()


def _sqlite_tables(db: Path) -> set[str] | None:
    """Table names of a SQLite file opened read-only, or None when it is not a database."""
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return None
    return {r[0] for r in rows}


def check_store(uri: str, settings: Settings) -> StoreState:
    """Refuse a local store that was lost or emptied; say whether it exists yet.

    `new`: true first use (neither the database nor its artifact folder exists), or the user
    allowed a new store (`tracking.allow_new_store`). `existing`: a valid MLflow database.
    `remote`: not a local SQLite file (nothing to check here).
    """
    db = sqlite_path(uri)
    if db is None:
        return "remote"
    db = db.absolute()  # messages name the file wherever the command ran
    allow = settings.tracking.allow_new_store
    artifacts = _artifact_dir(db, settings)
    if db.exists():
        if db.stat().st_size == 0:
            if allow:
                return "new"
            raise TrackingStoreError(
                f"the MLflow tracking store {db} is empty (0 bytes): its registry and champion "
                f"history are gone; restore it from a backup, or to start fresh {NEW_STORE_HINT}"
            )
        with db.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
        tables = _sqlite_tables(db) if header == SQLITE_HEADER else None
        if tables is None:
            raise TrackingStoreError(
                f"the MLflow tracking store {db} is not a SQLite database: restore it from a "
                "backup, or move it aside to start a new store"
            )
        if tables >= MLFLOW_TABLES:
            return "existing"
        if not tables and allow:
            return "new"
        raise TrackingStoreError(
            f"the MLflow tracking store {db} is not an MLflow database (tables: "
            f"{sorted(tables) or 'none'}): restore it, or move it aside and {NEW_STORE_HINT}"
        )
    if artifacts.is_dir() and any(artifacts.iterdir()) and not allow:
        raise TrackingStoreError(
            f"the MLflow tracking store {db} is missing but its artifact folder {artifacts} "
            "holds earlier runs: restore the database (or point MLFLOW_TRACKING_URI at it), or "
            f"to start a new registry beside those artifacts {NEW_STORE_HINT}"
        )
    return "new"


def require_store(uri: str, settings: Settings) -> None:
    """For readers (scoring): the store must exist; never create an empty one."""
    if check_store(uri, settings) == "new":
        store_path = (sqlite_path(uri) or Path(uri)).absolute()
        raise TrackingStoreError(
            f"there is no MLflow tracking store at {store_path}: nothing was trained "
            "here, so there is no champion to score with; run `advocacy train` first (or set "
            "MLFLOW_TRACKING_URI to the store you meant)"
        )


def configure_tracking(settings: Settings) -> str:
    """Point MLflow at $MLFLOW_TRACKING_URI (else the settings' local SQLite) and the experiment.

    Telemetry goes off first. A lost or emptied local store raises `TrackingStoreError`; a
    store that does not exist yet is left alone (the first training creates it). In an existing
    store, RUNNING runs left by killed processes are marked FAILED (`fail_stale_runs`).
    """
    disable_telemetry()
    uri = store_uri(settings)
    mlflow.set_tracking_uri(uri)
    if check_store(uri, settings) == "new":
        log.info("no MLflow store at %s yet: the first training creates it", uri)
        return uri
    ensure_experiment(uri, settings)
    fail_stale_runs(settings)
    log.info("MLflow tracking at %s, experiment %s", uri, settings.tracking.experiment)
    return uri


def ensure_experiment(uri: str, settings: Settings) -> str:
    """The experiment's id, creating store and experiment when allowed (under the lock)."""
    name = settings.tracking.experiment
    if check_store(uri, settings) != "new":  # reading an existing store needs no lock
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            mlflow.set_experiment(experiment_id=experiment.experiment_id)
            return str(experiment.experiment_id)
    with registry_lock(uri, settings.tracking.lock_timeout_seconds):
        check_store(uri, settings)  # re-checked under the lock: raises if lost meanwhile
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            try:
                mlflow.create_experiment(name, artifact_location=_artifact_location(uri, settings))
            except MlflowException:  # created meanwhile by a concurrent run (other stores)
                if mlflow.get_experiment_by_name(name) is None:
                    raise
        experiment = mlflow.set_experiment(name)
    return str(experiment.experiment_id)


def run_identity_tags() -> dict[str, str]:
    """Host and pid of this process, set on every run so a later start can spot dead ones."""
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}


def _process_alive(pid: int, started_ms: int) -> bool:
    """The process exists and is not a newer one that reused the pid."""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() <= started_ms / 1000 + 1.0
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return True


def _stale_reason(run: Any, host: str, now_ms: int, max_age_hours: float) -> str | None:
    tags = run.data.tags
    started = int(run.info.start_time or 0)
    if tags.get(TAG_HOST) == host and str(tags.get(TAG_PID, "")).isdigit():
        pid = int(tags[TAG_PID])
        if not _process_alive(pid, started):
            return f"process {pid} on {host} that ran it is gone (killed or crashed)"
        return None
    age_hours = (now_ms - started) / 3_600_000
    if age_hours > max_age_hours:
        return (
            f"RUNNING for {age_hours:.1f} h, longer than tracking.stale_run_hours "
            f"({max_age_hours:g})"
        )
    return None


def fail_stale_runs(settings: Settings, *, now_ms: int | None = None) -> list[str]:
    """Mark this experiment's RUNNING runs FAILED when their process is gone, or they are old.

    A run counts as stale when its `advocacy.host` tag is this host and the `advocacy.pid`
    process no longer runs (or the pid now belongs to a younger process), or, for runs from
    other hosts or without those tags, when it started more than `tracking.stale_run_hours`
    ago. Each gets an `advocacy.failed_reason` tag. Returns the run ids marked.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(settings.tracking.experiment)
    if experiment is None:
        return []
    host = socket.gethostname()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    marked: list[str] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status = 'RUNNING'",
            max_results=500,
            page_token=token,
        )
        for run in page:
            reason = _stale_reason(run, host, now_ms, settings.tracking.stale_run_hours)
            if reason is None:
                continue
            run_id = run.info.run_id
            client.set_tag(run_id, TAG_FAILED_REASON, f"marked FAILED at a later start: {reason}")
            client.set_terminated(run_id, status="FAILED")
            log.warning("MLflow run %s (%s) marked FAILED: %s", run_id, run.info.run_name, reason)
            marked.append(run_id)
        token = page.token
        if not token:
            return marked


# ------------------------------------------------------------------ run content
def flat_metrics(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """`holdout_model_auc`, `holdout_nps_auc`, `holdout_logreg_auc`, ... side by side."""
    return {
        f"{METRIC_PREFIX.get(predictor, predictor)}_{name}": float(values[name])
        for predictor, values in metrics.items()
        for name in METRIC_NAMES
    }


def ranker_of(fitted: FittedTarget) -> str:
    """What the fitted model ranks with: `lightgbm`, or `nps_rule` when the holdout fell back."""
    return str(getattr(fitted, "ranker", fallback.LIGHTGBM))


def _interval_metrics(fitted: FittedTarget, settings: Settings) -> dict[str, float]:
    """Bootstrap AUC interval of the model (always) and, with few asks, of every predictor."""
    trust = getattr(fitted, "trust", None)
    if trust is None:
        return {}
    intervals = {MODEL: (trust.auc_low, trust.auc_high)}
    if fallback.few_asks(trust, settings):
        columns = {BASELINE_NPS: "p_baseline_nps", BASELINE_LOGREG: "p_baseline_logreg"}
        intervals |= fallback.auc_intervals(fitted.holdout, columns, settings)
    out = {"trust_positives": float(trust.positives), "trust_margin": float(trust.margin)}
    for predictor, (low, high) in intervals.items():
        prefix = METRIC_PREFIX.get(predictor, predictor)
        out |= {f"{prefix}_auc_low": float(low), f"{prefix}_auc_high": float(high)}
    return out


def candidate_metrics(fitted: FittedTarget, settings: Settings) -> dict[str, float]:
    """Run metrics: each predictor's holdout numbers, the carried ranker's (`holdout_ranker_*`,
    what the gate judges) and the bootstrap AUC intervals."""
    if ranker_of(fitted) == fallback.LIGHTGBM:
        ranker = fitted.metrics[MODEL]
    else:  # the calibrated rule on the same holdout rows, as the gate scores a champion
        labels = fitted.holdout["label"].to_numpy(dtype=int)
        ranker = fallback.ranker_metrics(fitted.model, fitted.holdout_features, labels)
    ranked = {f"{RANKER_PREFIX}_{name}": float(ranker[name]) for name in METRIC_NAMES}
    return flat_metrics(fitted.metrics) | ranked | _interval_metrics(fitted, settings)


def ranker_tags(fitted: FittedTarget) -> dict[str, str]:
    """`advocacy.ranker`, the trust verdict as JSON, and (fallback only) the reason."""
    ranker, trust = ranker_of(fitted), getattr(fitted, "trust", None)
    tags = {TAG_RANKER: ranker}
    if getattr(fitted, "trained_until", None) is not None:
        tags[TAG_TRAINED_UNTIL] = pd.Timestamp(fitted.trained_until).isoformat()
    if trust is not None:
        tags[TAG_TRUST] = json.dumps(trust.to_dict())
        if ranker != fallback.LIGHTGBM:
            tags[TAG_FALLBACK_REASON] = trust.reason[:REASON_MAX_CHARS]
    return tags


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
    # the target's monotone directions, under the names they had as settings
    params.update(_flatten(f"training.monotone_{fitted.target}", dict(fitted.spec.monotone)))
    params.update({f"split.{k}": str(v) for k, v in fitted.split.as_params().items()})
    params.update(
        {f"lgbm.{k}": str(v) for k, v in fitted.params.items() if k != "monotone_constraints"}
    )
    params.update(
        {"best_iteration": str(fitted.best_iteration), "n_features": str(len(fitted.features))}
    )
    return params


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(value), default=str))


def run_key(
    fitted: FittedTarget, settings: Settings, *, as_of: Any, data_fingerprint: Mapping[str, Any]
) -> str:
    """sha256 of what makes one training unique: target, as_of, data, settings, the booster."""
    head = {
        "target": fitted.target,
        "as_of": str(as_of),
        "data": _jsonable(data_fingerprint),
        "training": settings.training.model_dump(mode="json"),
        "monotone": dict(fitted.spec.monotone),
        "features": list(fitted.features),
        "categorical": list(fitted.categorical),
        "calibration": fitted.calibration,
        "ranker": ranker_of(fitted),
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode())
    rule = getattr(fitted.model, "rule", None)
    if rule is not None:  # the fallback ranker: its numbers are its whole state
        digest.update(json.dumps(rule.to_dict(), sort_keys=True).encode())
        return digest.hexdigest()
    booster = getattr(fitted.model.classifier, "booster_", None)
    if booster is not None:
        digest.update(booster.model_to_string().encode())
    else:  # not a LightGBM model (tests, other learners): fall back to its pickle
        import cloudpickle

        digest.update(cloudpickle.dumps(fitted.model.classifier))
    return digest.hexdigest()


def _requirements() -> list[str]:
    """The logged model's pip requirements: what its code file needs, pinned as installed."""
    return [f"{name}=={package_version(name)}" for name in REQUIREMENTS]


def signature_rows(frame: pd.DataFrame, head: int = 100) -> pd.DataFrame:
    """The rows the signature is inferred from: the first `head` rows plus, for every column
    with a null anywhere, its first null row. MLflow makes a column optional when any of its
    values is null, so this gives the signature of the whole frame without scanning it (at 1M
    contacts inferring it from the 300k holdout rows took seconds per model)."""
    nulls = frame.isna().to_numpy()
    first_null = nulls.argmax(axis=0)[nulls.any(axis=0)]
    positions = np.union1d(np.arange(min(head, len(frame))), first_null)
    return frame.iloc[positions]


def _log_model(fitted: FittedTarget) -> str:
    """Log the pyfunc as code (`models/pyfunc_model.py`) plus its fitted state as artifacts,
    with signature + input example from raw holdout rows; its `models:/` URI.

    The logged model imports no `advocacy` module: it loads wherever its requirements do.
    """
    rows = fitted.holdout_features
    signature = infer_signature(signature_rows(rows), fitted.holdout["p"].to_numpy()[:1])
    example = rows.head(INPUT_EXAMPLE_ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=CODE_FILE,
            artifacts=fitted.model.save_artifacts(Path(tmp)),
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
        )
    return str(info.model_uri)


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
    mlflow.log_dict(_jsonable(data_fingerprint), FINGERPRINT_FILE)
    mlflow.log_dict(fitted.model.encoder.to_dict(), "encoder.json")
    mlflow.log_text(fitted.importance.to_csv(), IMPORTANCE_FILE)
    for name, fig in fitted.figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
    card = render_model_card(
        fitted, model_name=model_name, as_of=as_of, data_fingerprint=data_fingerprint
    )
    mlflow.log_text(card, MODEL_CARD_FILE)
    _log_parquet(fitted.holdout.join(fitted.holdout_features), HOLDOUT_FILE)


def _log_run(
    fitted: FittedTarget,
    settings: Settings,
    *,
    experiment_id: str,
    model_name: str,
    key: str,
    as_of: Any,
    data_fingerprint: Mapping[str, Any],
    metrics: Mapping[str, float],
) -> tuple[str, str]:
    """One complete, FINISHED run (params, metrics, artifacts, model); (run id, model URI)."""
    tags = {
        "target": fitted.target,
        "as_of": str(as_of),
        "model_name": model_name,
        TAG_RUN_KEY: key,
        **ranker_tags(fitted),
        **run_identity_tags(),
    }
    run_name = f"{fitted.target}-{as_of}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(run_params(fitted, settings))
        mlflow.log_params(_flatten("data", _jsonable(data_fingerprint)))
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        _log_artifacts(fitted, model_name, as_of, data_fingerprint)
        model_uri = _log_model(fitted)
        mlflow.set_tag(TAG_MODEL_URI, model_uri)
    return run.info.run_id, model_uri


def _quote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


def _find_registered(
    client: MlflowClient, experiment_id: str, model_name: str, key: str
) -> tuple[str, int | None, str | None] | None:
    """An earlier attempt of this training: (run id, its version or None, model URI)."""
    versions = client.search_model_versions(
        f"name = {_quote(model_name)} and tags.`{TAG_RUN_KEY}` = {_quote(key)}"
    )
    if versions:
        mv = min(versions, key=lambda v: int(v.version))
        return str(mv.run_id), int(mv.version), None
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_RUN_KEY}` = {_quote(key)} and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
    )
    for run in runs:  # finished, but the attempt died before registering its version
        if run.data.tags.get(TAG_MODEL_URI):
            return run.info.run_id, None, run.data.tags[TAG_MODEL_URI]
    return None


def _register_version(model_name: str, model_uri: str, key: str, fitted: FittedTarget) -> int:
    """One new version. MLflow prints "Successfully registered model ..." and "Created version
    ..." straight to stderr (`eprint`), between the CLI's progress lines: they go to the log."""
    tags = {TAG_RUN_KEY: key, "target": fitted.target, **ranker_tags(fitted)}
    said = io.StringIO()
    try:
        with redirect_stderr(said):
            return int(mlflow.register_model(model_uri, model_name, tags=tags).version)
    finally:
        for line in said.getvalue().splitlines():
            if line.strip():
                log.info("mlflow: %s", line.strip())


def register_candidate(
    fitted: FittedTarget, settings: Settings, *, as_of: Any, data_fingerprint: Mapping[str, Any]
) -> Candidate:
    """Log one run for one model and register its version; a retry reuses both (no new ones).

    Only FINISHED runs get a version, and the version is created under the registry lock after
    checking (again) for one with the same run key.
    """
    uri = mlflow.get_tracking_uri()
    client = MlflowClient()
    model_name = fitted.spec.model_name(settings)
    metrics = candidate_metrics(fitted, settings)
    key = run_key(fitted, settings, as_of=as_of, data_fingerprint=data_fingerprint)
    experiment_id = ensure_experiment(uri, settings)
    timeout = settings.tracking.lock_timeout_seconds

    def _candidate(run_id: str, version: int, reused: bool) -> Candidate:
        return Candidate(fitted.target, run_id, model_name, version, key, metrics, reused, fitted)

    found = _find_registered(client, experiment_id, model_name, key)
    reused = found is not None
    if found is None:
        run_id, model_uri = _log_run(
            fitted, settings, experiment_id=experiment_id, model_name=model_name, key=key,
            as_of=as_of, data_fingerprint=data_fingerprint, metrics=metrics,
        )  # fmt: skip
    else:
        run_id, version, model_uri = found
        if version is not None:
            log.info("%s v%d: reused (same training already registered)", model_name, version)
            return _candidate(run_id, version, True)
    with registry_lock(uri, timeout):
        again = _find_registered(client, experiment_id, model_name, key)
        if again is not None and again[1] is not None:
            return _candidate(again[0], again[1], reused)
        version = _register_version(model_name, str(model_uri), key, fitted)
    log.info("%s v%d: registered as a candidate (run %s)", model_name, version, run_id)
    return _candidate(run_id, version, reused)


# ------------------------------------------------------------------ the champion
def champion_version(client: MlflowClient, model_name: str, alias: str) -> int | None:
    """The version behind `@alias`, None when the model or the alias does not exist yet.

    Any other failure (a locked or unreachable store) propagates: it is not "no champion".
    """
    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = (registered.aliases or {}).get(alias)
    return None if version is None else int(version)


def _version_location(client: MlflowClient, model_name: str, version: int) -> str:
    try:
        return str(client.get_model_version_download_uri(model_name, str(version)))
    except Exception:
        try:
            return str(client.get_model_version(model_name, str(version)).source)
        except Exception:
            return "an unknown location"


# Versions registered before the one `advocacy` namespace were pickled with a reference to the
# generic module `models.pyfunc_model`. They still load (and score) in-process under these
# names, only while loading; the next promotion replaces them with a self-contained version.
LEGACY_MODULES = ("models", "models.pyfunc_model")


@contextmanager
def _legacy_module_names() -> Iterator[None]:
    """`models` and `models.pyfunc_model` as aliases of the package's modules, then gone."""
    from advocacy import models as package
    from advocacy.models import pyfunc_model

    added = [n for n in LEGACY_MODULES if n not in sys.modules]
    sys.modules.update({"models": package, "models.pyfunc_model": pyfunc_model})
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _load_version(
    client: MlflowClient, model_name: str, alias: str, version: int
) -> mlflow.pyfunc.PyFuncModel:
    """Load one pinned version; missing or unreadable artifacts name model, alias, version."""
    try:
        try:
            return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
        except ModuleNotFoundError as exc:
            if exc.name not in LEGACY_MODULES:
                raise
            with _legacy_module_names():  # a version pickled before the `advocacy` namespace
                return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    except Exception as exc:
        where = _version_location(client, model_name, version)
        local = Path(unquote(urlparse(where).path)) if where.startswith("file:") else None
        if local is not None and not (local / "MLmodel").exists():
            what = "are missing"
        else:
            what = f"cannot be loaded ({type(exc).__name__}: {_short_reason(exc) or 'no detail'})"
        raise ChampionArtifactError(
            f"{model_name}@{alias} is version {version}, but its model files at {where} {what}; "
            f"restore them, or point @{alias} at a good version, then rerun"
        ) from exc


@dataclass(frozen=True)
class Champion:
    """The current champion of one target, as loaded for scoring."""

    spec: TargetSpec
    name: str  # registered model name
    version: int
    run_id: str
    metrics: dict[str, float]  # that version's run metrics (holdout_model_auc, ...)
    model: Any = field(repr=False)  # the scorer: predict_proba(X), contributions(X)
    ranker: str = fallback.LIGHTGBM  # version tag `advocacy.ranker` (absent before: lightgbm)
    trust: dict[str, Any] | None = None  # version tag `advocacy.trust`; None before the check


def _pinned_champion(client: MlflowClient, spec: TargetSpec, settings: Settings) -> int:
    """The version behind the champion alias; `NoChampionError` when there is none."""
    name, alias = spec.model_name(settings), settings.tracking.champion_alias
    version = champion_version(client, name, alias)
    if version is None:
        raise NoChampionError(
            f"{name} has no @{alias} version in the tracking store {mlflow.get_tracking_uri()}: "
            "run `advocacy train` first"
        )
    return version


def _scorer(loaded: Any) -> Any:
    """The project's model inside what `_load_version` returned (a pyfunc wrapper)."""
    return loaded.unwrap_python_model()


def load_champion(spec: TargetSpec, settings: Settings) -> Champion:
    """The current champion of `spec` (loaded by its pinned version, so alias moves cannot
    race us), with the run that produced it and that run's metrics."""
    require_store(mlflow.get_tracking_uri(), settings)
    client = MlflowClient()
    name, alias = spec.model_name(settings), settings.tracking.champion_alias
    version = _pinned_champion(client, spec, settings)
    mv = client.get_model_version(name, str(version))
    run_id = str(mv.run_id)
    model = _scorer(_load_version(client, name, alias, version))
    metrics = {k: float(v) for k, v in client.get_run(run_id).data.metrics.items()}
    tags = dict(mv.tags or {})
    ranker = tags.get(TAG_RANKER) or getattr(model, "kind", fallback.LIGHTGBM)
    trust = json.loads(tags[TAG_TRUST]) if TAG_TRUST in tags else None
    return Champion(spec, name, version, run_id, metrics, model, ranker, trust)


def champion_run_id(spec: TargetSpec, settings: Settings) -> str:
    """The run that produced the current champion (for its metrics and artifacts)."""
    client = MlflowClient()
    version = _pinned_champion(client, spec, settings)
    return str(client.get_model_version(spec.model_name(settings), str(version)).run_id)


def _short_reason(exc: BaseException) -> str:
    """One readable line: MLflow's schema errors embed the whole frame before 'Error: '."""
    raw = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    text = str(raw).rsplit("Error: ", 1)[-1].strip()
    return (text.splitlines() or [""])[0][:REASON_MAX_CHARS]


def evaluate_champion(
    champion: mlflow.pyfunc.PyFuncModel,
    version: int,
    fitted: FittedTarget,
    *,
    trained_until: pd.Timestamp | None = None,
    recorded: Mapping[str, float] | None = None,
) -> gate.ChampionScore | gate.CannotEvaluate:
    """The champion's AUC and log loss on the NEW holdout rows, when it has not learnt from them.

    A champion refit on every closed row at an earlier T (`trained_until`, its version tag, is
    inside the new holdout) has seen most of those rows, and the new version's holdout model
    has learnt from fewer: scoring it there would keep any champion forever. Its own `recorded`
    holdout numbers (from its run: a model that had not seen its holdout) stand in instead.
    `CannotEvaluate` only in the two documented cases: its input schema needs columns the new
    rows lack, or MLflow's schema enforcement rejects the new frame's column types. Anything
    else raised while scoring propagates.
    """
    frame = fitted.holdout_features
    schema = champion.metadata.get_input_schema()
    if schema is not None:
        names = schema.input_names()
        missing = sorted(set(names) - set(frame.columns))
        if missing:
            return gate.CannotEvaluate(
                version, f"FeatureColumnsError: the new rows lack the champion's columns {missing}"
            )
        try:
            validate_schema(frame[names], schema)
        except MlflowException as exc:
            return gate.CannotEvaluate(
                version, f"MLflow schema enforcement rejected the new rows: {_short_reason(exc)}"
            )
    ranker = str(getattr(_scorer(champion), "kind", fallback.LIGHTGBM))
    start = pd.Timestamp(pd.to_datetime(fitted.holdout["t"]).min())
    if trained_until is not None and trained_until >= start and recorded is not None:
        basis = (
            f"each one's own time holdout (the champion learnt from the new holdout's rows up "
            f"to {trained_until.date()}, so its recorded numbers stand in)"
        )
        return gate.ChampionScore(version, recorded["auc"], recorded["log_loss"], ranker, basis)
    try:
        p = np.asarray(champion.predict(frame), dtype=float)
    except KeyError as exc:  # the loaded model raises its own copy's FeatureColumnsError
        if not is_feature_columns_error(exc):
            raise
        return gate.CannotEvaluate(version, f"FeatureColumnsError: {_short_reason(exc)}")
    y = fitted.holdout["label"].to_numpy(dtype=int)
    return gate.ChampionScore(
        version=version,
        auc=float(roc_auc_score(y, p)),
        log_loss=float(log_loss(y, np.clip(p, 0.0, 1.0), labels=[0, 1])),
        ranker=ranker,
    )


def _champion_record(
    client: MlflowClient, model_name: str, version: int
) -> tuple[pd.Timestamp | None, dict[str, float] | None]:
    """The champion's `advocacy.trained_until` tag and its run's own holdout numbers."""
    mv = client.get_model_version(model_name, str(version))
    until = (mv.tags or {}).get(TAG_TRAINED_UNTIL)
    metrics = client.get_run(str(mv.run_id)).data.metrics
    prefix = RANKER_PREFIX if f"{RANKER_PREFIX}_auc" in metrics else METRIC_PREFIX[MODEL]
    names = (f"{prefix}_auc", f"{prefix}_log_loss")
    recorded = (
        {"auc": metrics[names[0]], "log_loss": metrics[names[1]]}
        if all(n in metrics for n in names)
        else None
    )
    return (pd.Timestamp(until) if until else None), recorded


# ------------------------------------------------------------------ promotion
@dataclass(frozen=True)
class _Plan:
    candidate: Candidate
    champion_before: int | None
    decision: gate.GateDecision
    already: bool = False  # the candidate already holds the alias (a retried promotion)


def _new_metrics(c: Candidate) -> dict[str, float]:
    """The carried ranker's holdout numbers: LightGBM's, or the fallback rule's own."""
    return {
        "auc": c.metrics[f"{RANKER_PREFIX}_auc"],
        "log_loss": c.metrics[f"{RANKER_PREFIX}_log_loss"],
    }


def _gate(
    client: MlflowClient, c: Candidate, champion: int | None, settings: Settings
) -> gate.GateDecision:
    """Score the new holdout with `champion` (if any) and apply the promotion rule."""
    score: gate.ChampionScore | gate.CannotEvaluate | None = None
    if champion is not None:
        alias = settings.tracking.champion_alias
        model = _load_version(client, c.model_name, alias, champion)
        until, recorded = _champion_record(client, c.model_name, champion)
        score = evaluate_champion(model, champion, c.fitted, trained_until=until, recorded=recorded)
    return gate.decide(_new_metrics(c), score, settings, new_ranker=c.ranker)


def _recorded(client: MlflowClient, c: Candidate, alias: str) -> _Plan:
    """A candidate that already is the champion: its decision as recorded on the version."""
    tags = client.get_model_version(c.model_name, str(c.version)).tags
    before = tags.get("promotion.champion_before", "none")
    champion = {
        k: float(tags[f"promotion.champion_{k}"])
        for k in ("auc", "log_loss")
        if f"promotion.champion_{k}" in tags
    }
    decision = gate.GateDecision(
        promoted=True,
        kind=tags.get("promotion.kind", "beats_champion"),  # type: ignore[arg-type]
        text=tags.get("promotion.decision", f"already @{alias}"),
        champion_version=int(before) if before.isdigit() else None,
        champion_metrics=champion or None,
    )
    return _Plan(c, decision.champion_version, decision, already=True)


def _plan(client: MlflowClient, c: Candidate, settings: Settings) -> _Plan:
    alias = settings.tracking.champion_alias
    current = champion_version(client, c.model_name, alias)
    if current == c.version:
        return _recorded(client, c, alias)
    return _Plan(c, current, _gate(client, c, current, settings))


def _decision_tags(plan: _Plan) -> dict[str, str]:
    d, m = plan.decision, plan.candidate.metrics
    return {
        "promotion.promoted": str(d.promoted).lower(),
        "promotion.kind": d.kind,
        "promotion.decision": d.text,
        "promotion.champion_before": str(plan.champion_before or "none"),
        "promotion.new_auc": f"{m[f'{RANKER_PREFIX}_auc']:.6f}",
        "promotion.new_log_loss": f"{m[f'{RANKER_PREFIX}_log_loss']:.6f}",
        **{f"promotion.champion_{k}": f"{v:.6f}" for k, v in (d.champion_metrics or {}).items()},
    }


def _record(client: MlflowClient, plan: _Plan, tags: Mapping[str, str] | None = None) -> None:
    """The decision as tags on the version and the run (stale promotion tags removed)."""
    c = plan.candidate
    tags = dict(tags or _decision_tags(plan))
    existing = client.get_model_version(c.model_name, str(c.version)).tags
    for key in existing:
        if key.startswith(PROMOTION_PREFIX) and key not in tags:
            client.delete_model_version_tag(c.model_name, str(c.version), key)
    for key, value in tags.items():
        if existing.get(key) != value:
            client.set_model_version_tag(c.model_name, str(c.version), key, value)
    run = client.get_run(c.run_id)
    for key in run.data.tags:
        if key.startswith(PROMOTION_PREFIX) and key not in tags:
            client.delete_tag(c.run_id, key)
    client.log_batch(c.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    for key, value in (plan.decision.champion_metrics or {}).items():
        if run.data.metrics.get(f"champion_{key}") != value:
            client.log_metric(c.run_id, f"champion_{key}", value)


def _set_alias(client: MlflowClient, model_name: str, alias: str, version: int) -> None:
    client.set_registered_model_alias(model_name, alias, str(version))


def _apply(client: MlflowClient, plan: _Plan, settings: Settings, *, locked: bool) -> _Plan:
    """Record the decision, then move the alias; without a lock, compare-and-set on the alias."""
    if plan.already:
        return plan
    c, alias = plan.candidate, settings.tracking.champion_alias
    for _ in range(CAS_ATTEMPTS):
        _record(client, plan)
        if not plan.decision.promoted:
            return plan
        if not locked:  # re-read right before setting: another run may have moved it
            now = champion_version(client, c.model_name, alias)
            if now == c.version:
                return _recorded(client, c, alias)
            if now != plan.champion_before:
                log.info("%s: @%s moved to v%s meanwhile; gating again", c.model_name, alias, now)
                plan = _Plan(c, now, _gate(client, c, now, settings))
                continue
        _set_alias(client, c.model_name, alias, c.version)
        return plan
    raise RegistryBusyError(
        f"{c.model_name}@{alias} kept moving while v{c.version} was being promoted; rerun"
    )


def _roll_back(
    client: MlflowClient, plans: Sequence[_Plan], alias: str, exc: BaseException
) -> None:
    """Best effort: put back the aliases this step moved and mark its decisions as not made."""
    why = f"{type(exc).__name__}: {_short_reason(exc)}"
    for plan in plans:
        if plan.already:
            continue
        c = plan.candidate
        try:
            if champion_version(client, c.model_name, alias) == c.version:
                if plan.champion_before is None:
                    client.delete_registered_model_alias(c.model_name, alias)
                else:
                    client.set_registered_model_alias(
                        c.model_name, alias, str(plan.champion_before)
                    )
            tags = {
                **_decision_tags(plan),
                "promotion.promoted": "false",
                "promotion.kind": "interrupted",
                "promotion.decision": f"not promoted: the promotion step failed ({why}); "
                "the next attempt decides again",
            }
            _record(client, plan, tags)
        except Exception as undo:
            log.warning("could not roll back %s v%d: %s", c.model_name, c.version, undo)


def promote_candidates(
    candidates: Sequence[Candidate], settings: Settings
) -> list[RegistryOutcome]:
    """Judge every candidate against its current champion and move the aliases, all or none.

    Under the registry lock (local SQLite) the champions are re-read, every candidate is gated
    first (an unexpected error loading or scoring a champion propagates: nothing changes), then
    decisions are recorded and aliases set. If writing fails part-way, the aliases moved so far
    are put back and the error propagates; running the step again is harmless (a candidate that
    already holds the alias keeps it and its recorded decision).
    """
    uri = mlflow.get_tracking_uri()
    client = MlflowClient()
    alias = settings.tracking.champion_alias
    with registry_lock(uri, settings.tracking.lock_timeout_seconds) as locked:
        plans = [_plan(client, c, settings) for c in candidates]
        done: list[_Plan] = []
        try:
            for plan in plans:
                done.append(plan)
                done[-1] = _apply(client, plan, settings, locked=locked)
        except BaseException as exc:
            _roll_back(client, done, alias, exc)
            raise
    outcomes = []
    for plan in done:
        c = plan.candidate
        log.info("%s v%d: %s", c.model_name, c.version, plan.decision.text)
        outcome = RegistryOutcome(
            target=c.target, run_id=c.run_id, model_name=c.model_name, version=c.version,
            promoted=plan.decision.promoted, decision=plan.decision.text,
            champion_before=plan.champion_before, metrics=c.metrics, reused=c.reused,
            ranker=c.ranker, fallback_reason=ranker_tags(c.fitted).get(TAG_FALLBACK_REASON, ""),
        )  # fmt: skip
        outcomes.append(outcome)
    return outcomes


def log_and_promote(
    fitted: FittedTarget, settings: Settings, *, as_of: Any, data_fingerprint: Mapping[str, Any]
) -> RegistryOutcome:
    """One model on its own: register its candidate, then promote it if it earns it."""
    candidate = register_candidate(fitted, settings, as_of=as_of, data_fingerprint=data_fingerprint)
    return promote_candidates([candidate], settings)[0]
