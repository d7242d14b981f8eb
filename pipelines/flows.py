"""Prefect flows: load -> validate -> features -> train -> score -> publish.

Tasks here only wire the pure functions of `features/` and `models/`; retries are set
only on tasks that do I/O (reading files, the MLflow store, writing outputs). Frames
are passed in memory, so tasks opt out of input hashing (`NO_CACHE`).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from advocacy.data_contracts.load import connect
from advocacy.data_contracts.profile import profile_tables
from advocacy.data_contracts.validate import validate_folder
from advocacy.features import build as feature_build
from advocacy.features import facts as world_facts
from advocacy.features.facts import TrainingRowsFacts, training_rows_facts
from advocacy.models import score, tracking
from advocacy.models.train import fit_target
from advocacy.pipelines import errors, outputs, publish, runtime
from advocacy.policy import activity, ranking
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from advocacy.settings import Settings, load_settings

log = logging.getLogger(__name__)
# Candidates for a retry; `errors.is_transient` decides (no retry on ENOSPC, EROFS, EACCES,
# EPERM, ENOENT, a missing file or folder; yes on time-outs, connection errors, a locked DB).
TRANSIENT = (OSError, TimeoutError, sqlite3.OperationalError)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O only on errors that may go away (network, locks); a full disk will not."""
    try:
        state.result()
    except BaseException as exc:
        return errors.is_transient(exc)
    return False


# Every task that reads or writes files or the MLflow store gets these.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _transient}
TARGETS = ("advocate", "burnout")


class ContractError(Exception):
    """The inputs broke a data contract: the run stops before features, nothing is published."""

    def __init__(self, report: Any) -> None:
        self.report = report
        n = sum(len(t.failures) for t in report.tables)
        super().__init__(f"data contract failed: {n} check(s) failed; nothing was published")


# ---------------------------------------------------------------- tasks: I/O
@task(name="profile-inputs", cache_policy=NO_CACHE, **IO_RETRIES)
def profile_inputs(data_dir: Path, as_of: date) -> list[dict]:
    con = connect(data_dir)
    try:
        return [p.to_dict() for p in profile_tables(con, data_dir, as_of)]
    finally:
        con.close()


@task(name="check-contracts", cache_policy=NO_CACHE, **IO_RETRIES)
def check_contracts(
    data_dir: Path, as_of: date, settings: Settings, docs_dir: Path | None = None
) -> Any:
    report = validate_folder(data_dir, settings, docs_dir=docs_dir, as_of=as_of)
    create_markdown_artifact(  # counts only: example values may be personal data
        key="data-contracts",
        markdown=outputs.contracts_markdown(report),
        description="GX contracts",
    )
    if not report.ok:
        raise ContractError(report)
    return report


@task(name="register-model", cache_policy=NO_CACHE, **IO_RETRIES)
def register_model(fitted: Any, settings: Settings, as_of: date, fingerprint: dict) -> Any:
    """Log the run and register a candidate version; a retry reuses them (same run key)."""
    return tracking.register_candidate(fitted, settings, as_of=as_of, data_fingerprint=fingerprint)


@task(name="promote-models", cache_policy=NO_CACHE, **IO_RETRIES)
def promote_models(candidates: list[Any], settings: Settings) -> list[Any]:
    """Gate every candidate against its champion and move the aliases, all or none; retry-safe."""
    return tracking.promote_candidates(candidates, settings)


@task(name="load-champions", cache_policy=NO_CACHE, **IO_RETRIES)
def load_champions(settings: Settings) -> dict[str, Any]:
    return {
        t: tracking.load_champion(tracking.model_name_for(t, settings), settings) for t in TARGETS
    }


@task(name="publish", cache_policy=NO_CACHE, **IO_RETRIES)
def publish_run(bundle: outputs.RunBundle, out_dir: Path | None, settings: Settings) -> Path:
    target, point_latest = publish.resolve_out_dir(out_dir, bundle.as_of, settings.output_root)
    return publish.publish_atomically(target, bundle.write, point_latest=point_latest)


# ---------------------------------------------------------------- tasks: pure logic
@task(name="build-feature-rows", cache_policy=NO_CACHE, **IO_RETRIES)
def build_feature_rows(
    data_dir: Path, as_of: date, settings: Settings, *, training: bool, scoring: bool = True
) -> dict[str, Any]:
    """Training and/or scoring rows from one connection, so usage is rolled up once."""
    con = connect(data_dir)
    try:
        rows: dict[str, Any] = {}
        if training:
            rows["advocate"] = feature_build.build_advocate_training(con, as_of, settings)
            rows["burnout"] = feature_build.build_burnout_training(con, as_of, settings)
            for t in TARGETS:  # too few rows: gather why, so the refusal can say it
                if len(rows[t]) < settings.training.min_rows:
                    rows[f"{t}_rows_facts"] = training_rows_facts(con, as_of, t, settings)
        if scoring:
            rows["features"] = feature_build.build_scoring(con, as_of, settings)
            rows["facts"] = world_facts.eligibility_facts(con, as_of, settings)
            history = world_facts.ask_history(con, as_of, settings)
            rows["decided_asks"], rows["unprompted"] = history.decided_asks, history.unprompted
        return rows
    finally:
        con.close()


@task(name="fit-model", cache_policy=NO_CACHE)
def fit_model(
    frame: pd.DataFrame, target: str, settings: Settings, facts: TrainingRowsFacts | None = None
) -> Any:
    return fit_target(frame, target, settings, facts=facts)


@task(name="score-and-rank", cache_policy=NO_CACHE)
def score_and_rank(
    rows: dict[str, pd.DataFrame], champions: dict[str, Any], settings: Settings
) -> pd.DataFrame:
    (adv, _), (burn, _) = champions["advocate"], champions["burnout"]
    scored = score.score_population(
        rows["features"], adv.unwrap_python_model(), burn.unwrap_python_model(), settings
    )
    return ranking.rank_population(scored, rows["facts"], settings)


@task(name="shortlist", cache_policy=NO_CACHE, **IO_RETRIES)  # reads contact details
def make_shortlist(
    data_dir: Path,
    ranked: pd.DataFrame,
    rows: dict[str, pd.DataFrame],
    as_of: date,
    settings: Settings,
) -> pd.DataFrame:
    top = ranking.shortlist(ranked, settings)
    con = connect(data_dir)
    try:
        details = world_facts.contact_details(con, top["contact_id"].tolist())
    finally:
        con.close()
    suggested = activity.suggest_activity(
        rows["decided_asks"], rows["unprompted"], details, settings
    )
    return score.candidates_table(top, details, suggested, as_of)


# ---------------------------------------------------------------- flows
@flow(name="train-advocacy")
def train_flow(
    data_dir: str,
    as_of: str | None = None,
    config_path: str | None = None,
    new_store: bool = False,
) -> list[Any]:
    """Build training rows, fit both models, log to MLflow, promote champions that earn it."""
    run = _start(data_dir, as_of, config_path, new_store=new_store)
    rows = build_feature_rows(run.data, run.day, run.settings, training=True, scoring=False)
    return _train(rows, run)


@flow(name="score-advocacy")
def score_flow(
    data_dir: str,
    as_of: str | None = None,
    out_dir: str | None = None,
    config_path: str | None = None,
) -> str:
    """Score with the current champions and publish; no training."""
    run = _start(data_dir, as_of, config_path)
    rows = build_feature_rows(run.data, run.day, run.settings, training=False)
    return str(_score_and_publish(rows, run, out_dir))


@flow(name="weekly-advocacy")
def weekly_flow(
    data_dir: str,
    as_of: str | None = None,
    out_dir: str | None = None,
    config_path: str | None = None,
    new_store: bool = False,
) -> str:
    """The weekly job: validate, features, train, score, publish."""
    run = _start(data_dir, as_of, config_path, new_store=new_store)
    rows = build_feature_rows(run.data, run.day, run.settings, training=True)
    _train(rows, run)
    return str(_score_and_publish(rows, run, out_dir))


@dataclass(frozen=True)
class RunContext:
    """What every flow knows once its inputs passed the contracts."""

    settings: Settings
    day: date
    data: Path
    report: Any
    inputs: list[dict]


def _start(
    data_dir: str, as_of: str | None, config_path: str | None, *, new_store: bool = False
) -> RunContext:
    """Settings, tracking, as_of; then the contracts (stop here on failure) and the profile.

    The project's log lines go to this run's Prefect logs; GX Data Docs go under the output
    root (or `validation.data_docs_dir` when set), not into the working folder.
    """
    runtime.route_project_logs()
    settings = load_settings(config_path)
    if new_store:  # the user asked for a new tracking store where an old one is missing/empty
        tracking_settings = settings.tracking.model_copy(update={"allow_new_store": True})
        settings = settings.model_copy(update={"tracking": tracking_settings})
    tracking.configure_tracking(settings)
    day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    data = Path(data_dir)
    report = check_contracts(data, day, settings, runtime.data_docs_dir(settings))
    return RunContext(settings, day, data, report, profile_inputs(data, day))


def _train(frames: dict[str, pd.DataFrame], run: RunContext) -> list[Any]:
    runtime.raise_if_stopped()  # each stage starts only if no stop signal was swallowed
    day, settings, inputs = run.day, run.settings, run.inputs
    fingerprint = {"as_of": day.isoformat(), "inputs": {p["table"]: p for p in inputs}}
    # Fit both, then register both, then promote both together: a failure anywhere before the
    # last step promotes nothing, and each step can be retried without duplicating versions.
    fitted = {
        t: fit_model.with_options(name=f"fit-{t}")(
            frames[t], t, settings, frames.get(f"{t}_rows_facts")
        )
        for t in TARGETS
    }
    candidates = [
        register_model.with_options(name=f"register-{t}")(fitted[t], settings, day, fingerprint)
        for t in TARGETS
    ]
    outcomes = promote_models(candidates, settings)
    create_table_artifact(
        key="training-summary",
        table=[outputs.outcome_row(o) for o in outcomes],
        description=f"Training as of {day}",
    )
    return outcomes


def _score_and_publish(rows: dict[str, pd.DataFrame], run: RunContext, out_dir: str | None) -> Path:
    data, day, settings, inputs, report = run.data, run.day, run.settings, run.inputs, run.report
    runtime.raise_if_stopped()
    champions = load_champions(settings)
    ranked = score_and_rank(rows, champions, settings)
    candidates = make_shortlist(data, ranked, rows, day, settings)
    bundle = outputs.RunBundle.assemble(
        as_of=day, ranked=ranked, candidates=candidates, champions=champions,
        inputs=inputs, contracts=report.to_dict(), settings=settings,
    )  # fmt: skip
    runtime.raise_if_stopped()  # never publish after a stop signal
    published = publish_run(bundle, Path(out_dir) if out_dir else None, settings)
    outputs.log_to_mlflow(bundle, published)
    create_table_artifact(
        key="candidates", table=outputs.candidates_artifact(candidates, 25),
        description=f"Top of the advocacy list as of {day} (ids only; names are in the CSV)",
    )  # fmt: skip
    create_markdown_artifact(key="weekly-summary", markdown=bundle.summary_markdown(published))
    return published
