"""Prefect flows: the plain-Python job (`advocacy.pipelines.job`), one Prefect task per step.

The flows only cross the boundary (Prefect parameters are JSON: `as_of` arrives as ISO text
and becomes a date here, once) and hand the job a `PrefectRunner`. Retries are set only on
steps that do I/O (files, the MLflow store, the output folder). Frames are passed in memory,
so tasks opt out of input hashing (`NO_CACHE`). Artifacts hold no personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from advocacy.pipelines import errors, job, lineage, runtime
from advocacy.pipelines.job import ContractError, JobInputs
from advocacy.settings import load_settings

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["IO_RETRIES", "ContractError", "score_flow", "train_flow", "weekly_flow"]


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O only on errors that may go away (time-outs, connection errors, a locked DB);
    `errors.is_transient` says no to ENOSPC, EROFS, EACCES, EPERM, ENOENT, a missing file."""
    try:
        state.result()
    except BaseException as exc:
        return errors.is_transient(exc)
    return False


# Every task that reads or writes files or the MLflow store gets these.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _transient}


def _task(step: Callable[..., Any], name: str, **options: Any) -> Task:
    """The job's step as a Prefect task; retries when the job lists it among its I/O steps."""
    retries = IO_RETRIES if step in job.IO_STEPS else {}
    return task(step, name=name, cache_policy=NO_CACHE, **retries, **options)


# ---------------------------------------------------------------- one task per step
configure_tracking = _task(job.configure_tracking, "configure-tracking")
check_contracts = _task(job.check_contracts, "check-contracts")
profile_inputs = _task(job.profile_inputs, "profile-inputs")
build_rows = _task(job.build_rows, "build-feature-rows")
weigh_asks = _task(job.weigh_asks, "weigh-asks")  # reads earlier published lists
fit_models = _task(job.fit_models, "fit-models")  # every target, side by side
register_model = _task(
    job.register_model, "register-model", task_run_name="register-{fitted.spec.name}"
)
promote_models = _task(job.promote_models, "promote-models")
load_champions = _task(job.load_champions, "load-champions")
score_and_rank = _task(job.score_and_rank, "score-and-rank")
make_shortlist = _task(job.make_shortlist, "shortlist")  # reads contact details
look_back = _task(job.look_back, "look-back")
value_of_list = _task(job.value_of_list, "value-of-list")
watch_drift = _task(job.watch_drift, "watch-drift")
match_deals = _task(job.match_deals, "match-deals")  # reads the deals and advocate facts
assemble = _task(job.assemble, "assemble")
publish_run = _task(job.publish_run, "publish")
log_lineage = _task(job.log_lineage, "log-lineage")
TASKS: dict[Callable[..., Any], Task] = {
    t.fn: t
    for t in (
        configure_tracking, check_contracts, profile_inputs, build_rows, weigh_asks, fit_models,
        register_model, promote_models, load_champions, score_and_rank, make_shortlist,
        look_back, value_of_list, watch_drift, match_deals, assemble, publish_run, log_lineage,
    )
}  # fmt: skip


class PrefectRunner(job.Runner):
    """Each step as its Prefect task; the summaries as artifacts (ids and counts only)."""

    def step(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        if fn not in TASKS:
            raise KeyError(f"no Prefect task for the job step {fn.__name__}")
        return TASKS[fn](*args, **kwargs)

    def contracts_checked(self, report: Any) -> None:
        create_markdown_artifact(  # counts only: example values may be personal data
            key="data-contracts",
            markdown=lineage.contracts_markdown(report),
            description="GX contracts",
        )

    def trained(self, as_of: date, outcomes: Sequence[Any]) -> None:
        create_table_artifact(
            key="training-summary",
            table=[lineage.outcome_row(o) for o in outcomes],
            description=f"Training as of {as_of}",
        )

    def published(self, bundle: Any, folder: Path) -> None:
        create_table_artifact(
            key="candidates", table=lineage.candidates_artifact(bundle.candidates, 25),
            description=f"Top of the advocacy list as of {bundle.as_of} "
            "(ids only; names are in the CSV)",
        )  # fmt: skip
        create_markdown_artifact(
            key="weekly-summary", markdown=lineage.summary_markdown(bundle, folder)
        )
        create_markdown_artifact(
            key="drift", markdown=lineage.drift_markdown(bundle.drift), description="Drift"
        )


PREFECT = PrefectRunner()


# ---------------------------------------------------------------- flows
@flow(name="train-advocacy")
def train_flow(
    data_dir: str,
    as_of: str | None = None,
    config_path: str | None = None,
    new_store: bool = False,
    engine: str | None = None,
) -> list[Any]:
    """Build training rows, fit every model, log to MLflow, promote champions that earn it."""
    inputs = job_inputs(data_dir, as_of, config_path, new_store=new_store, engine=engine)
    return job.train_job(inputs, PREFECT)


@flow(name="score-advocacy")
def score_flow(
    data_dir: str,
    as_of: str | None = None,
    out_dir: str | None = None,
    config_path: str | None = None,
    engine: str | None = None,
) -> str:
    """Score with the current champions and publish; no training."""
    inputs = job_inputs(data_dir, as_of, config_path, out_dir, engine=engine)
    return str(job.score_job(inputs, PREFECT))


@flow(name="weekly-advocacy")
def weekly_flow(
    data_dir: str,
    as_of: str | None = None,
    out_dir: str | None = None,
    config_path: str | None = None,
    new_store: bool = False,
    engine: str | None = None,
) -> str:
    """The weekly job: validate, features, train, score, publish."""
    inputs = job_inputs(data_dir, as_of, config_path, out_dir, new_store=new_store, engine=engine)
    return str(job.weekly_job(inputs, PREFECT).published)


def job_inputs(
    data_dir: str,
    as_of: str | None,
    config_path: str | None,
    out_dir: str | None = None,
    *,
    new_store: bool = False,
    engine: str | None = None,
) -> JobInputs:
    """The flow boundary: JSON parameters in, the job's typed inputs out.

    The project's log lines go to this run's Prefect logs; GX Data Docs go under the output
    root (or `validation.data_docs_dir` when set), not into the working folder.
    """
    runtime.route_project_logs()
    settings = load_settings(config_path)
    if new_store:  # the user asked for a new tracking store where an old one is missing/empty
        settings = job.with_new_store(settings)
    if engine:  # --engine wins over the settings file
        settings = job.with_engine(settings, engine)
    day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    return JobInputs(
        data=Path(data_dir), as_of=day, settings=settings,
        out_dir=Path(out_dir) if out_dir else None, docs_dir=runtime.data_docs_dir(settings),
    )  # fmt: skip
