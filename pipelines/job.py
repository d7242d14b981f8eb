"""The weekly job in plain Python, step by step; the Prefect flows and the benchmark run it.

check contracts -> profile -> build rows -> fit every target -> register per target ->
promote jointly -> load champions -> score and rank -> shortlist -> look back (earlier lists,
program health) -> value of the list -> assemble -> publish -> log lineage. Each step is a
module-level function with typed inputs and outputs, and every step is called through a
`Runner`: a plain call here, one Prefect task per step in `advocacy.pipelines.flows`, a timed
call in `bench/run_bench.py`. So the three run exactly the same code. Every MLflow call happens
inside a step; no Prefect import here.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from advocacy.data_contracts.load import connect
from advocacy.data_contracts.profile import profile_tables
from advocacy.data_contracts.validate import validate_folder
from advocacy.features import build as feature_build
from advocacy.features import facts as world_facts
from advocacy.features import registry
from advocacy.models import score, targets, tracking
from advocacy.models.targets import TARGETS, TargetSpec
from advocacy.models.train import WEIGHT, fit_target
from advocacy.models.weights import inclusion_weights
from advocacy.monitoring import drift, lookback, offpolicy, program
from advocacy.pipelines import lineage, outputs, publish, runtime
from advocacy.pipelines import match as deal_matching
from advocacy.policy import activity, exploration, plan, ranking
from advocacy.policy.eligibility import ineligible_reason
from advocacy.policy.matching import DEFAULT_REFERENCE_TYPE as REFERENCE_CALL
from advocacy.policy.matching import advocate_facts
from advocacy.settings import Settings

if TYPE_CHECKING:
    from advocacy.data_contracts.report import ValidationReport
    from advocacy.features.facts import AskHistory, TrainingRowsFacts
    from advocacy.models.tracking import Candidate, Champion, RegistryOutcome
    from advocacy.models.train import FittedTarget

log = logging.getLogger(__name__)
T = TypeVar("T")


class ContractError(Exception):
    """The inputs broke a data contract: the run stops before features, nothing is published."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = sum(len(t.failures) for t in report.tables)
        super().__init__(f"data contract failed: {n} check(s) failed; nothing was published")


# ---------------------------------------------------------------- what flows between steps
@dataclass(frozen=True)
class JobInputs:
    """What a run is asked to do: which folder, which day, which settings, where to publish."""

    data: Path
    as_of: date
    settings: Settings
    out_dir: Path | None = None  # None: <output_root>/<as_of>/ and <output_root>/latest
    docs_dir: Path | None = None  # GX Data Docs; None: `runtime.data_docs_dir(settings)`


@dataclass(frozen=True)
class CheckedInputs:
    """A run whose inputs passed the contracts, with the profile of every input table."""

    job: JobInputs
    contracts: ValidationReport
    profiles: list[dict[str, Any]]

    def fingerprint(self) -> dict[str, Any]:
        """What the registered models were trained on (tags of their runs)."""
        return {
            "as_of": self.job.as_of.isoformat(),
            "inputs": {p["table"]: p for p in self.profiles},
        }


@dataclass(frozen=True)
class TrainingRows:
    """One target's training rows; `facts` only when too few, so the refusal can say why."""

    spec: TargetSpec
    frame: pd.DataFrame
    facts: TrainingRowsFacts | None = None


@dataclass(frozen=True)
class ScoringRows:
    """The population at T: features, the facts the rules read, the asks the activity learns."""

    features: pd.DataFrame
    eligibility: pd.DataFrame
    history: AskHistory
    reference: pd.DataFrame | None = None  # the population inside the training window (drift)
    advocates: pd.DataFrame | None = None  # matching's facts per eligible contact (no scores)


@dataclass(frozen=True)
class Rows:
    training: tuple[TrainingRows, ...] = ()
    scoring: ScoringRows | None = None


@dataclass(frozen=True)
class Shortlist:
    """This week's list (candidates.csv rows), the ask plan's per-activity table and notes, and
    per scored contact how it was selected (`selection`, `inclusion_probability`)."""

    candidates: pd.DataFrame
    by_activity: pd.DataFrame
    messages: tuple[str, ...]
    selection: pd.DataFrame  # contact_id, selection (None when not listed), inclusion_probability
    reference: pd.DataFrame  # the eligible: contact_id, p_reference_call (deal matching)


@dataclass(frozen=True)
class LookBack:
    """What the run sees when it looks back at T: earlier lists' outcomes, program health."""

    earlier_lists: tuple[lookback.ListOutcome, ...]
    program: pd.DataFrame


@dataclass(frozen=True)
class WeeklyResult:
    outcomes: list[RegistryOutcome]
    published: Path


# ---------------------------------------------------------------- how steps are run
class Runner:
    """Runs the job's steps and shows its summaries. Plain Python: a call, nothing shown.

    `flows.PrefectRunner` runs each step as a Prefect task and shows the summaries as
    artifacts; the benchmark times each step.
    """

    def step(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    def contracts_checked(self, report: ValidationReport) -> None:
        """Called once the contracts ran, passed or not."""

    def trained(self, as_of: date, outcomes: Sequence[RegistryOutcome]) -> None:
        """Called once the candidates were judged."""

    def published(self, bundle: outputs.RunBundle, folder: Path) -> None:
        """Called once the files are in place and the lineage is logged."""


PLAIN = Runner()


def with_new_store(settings: Settings) -> Settings:
    """The settings of a run allowed to start a new tracking store (`--new-store`)."""
    tracking_settings = settings.tracking.model_copy(update={"allow_new_store": True})
    return settings.model_copy(update={"tracking": tracking_settings})


def with_engine(settings: Settings, name: str) -> Settings:
    """The settings of a run on another engine (`--engine duckdb|spark`), validated."""
    engine = type(settings.engine).model_validate({**settings.engine.model_dump(), "name": name})
    return settings.model_copy(update={"engine": engine})


# ---------------------------------------------------------------- steps that do I/O
def configure_tracking(settings: Settings) -> str:
    """Point MLflow at the store (and fail stale runs there); the tracking URI."""
    return tracking.configure_tracking(settings)


def check_contracts(
    data: Path, as_of: date, settings: Settings, docs_dir: Path | None = None
) -> ValidationReport:
    """Every data contract and the freshness checks at T; never raises on bad data."""
    docs = docs_dir or runtime.data_docs_dir(settings)
    return validate_folder(data, settings, docs_dir=docs, as_of=as_of)


def profile_inputs(data: Path, as_of: date) -> list[dict[str, Any]]:
    """Rows, freshness and checksum per input table (run.json, model run tags)."""
    con = connect(data)
    try:
        return [p.to_dict() for p in profile_tables(con, data, as_of)]
    finally:
        con.close()


def build_rows(
    data: Path, as_of: date, settings: Settings, *, training: bool, scoring: bool = True
) -> Rows:
    """Training and/or scoring rows from one connection, so usage is rolled up once (on
    `engine.name: spark` the same SQL runs on Spark, pipelines/spark_engine.py)."""
    con = _connection(data, settings)
    try:
        trained = (
            tuple(_training_rows(con, spec, as_of, settings) for spec in TARGETS)
            if training
            else ()
        )
        return Rows(trained, _scoring_rows(con, as_of, settings) if scoring else None)
    finally:
        con.close()


def _connection(data: Path, settings: Settings) -> Any:
    if settings.engine.name == "spark":
        from advocacy.pipelines.spark_engine import spark_connection

        return spark_connection(data, settings)
    return connect(data, engine=settings.engine)


def _training_rows(con: Any, spec: TargetSpec, as_of: date, settings: Settings) -> TrainingRows:
    frame = spec.build_rows(con, as_of, settings)
    too_few = len(frame) < settings.training.min_rows
    return TrainingRows(spec, frame, spec.rows_facts(con, as_of, settings) if too_few else None)


def _scoring_rows(con: Any, as_of: date, settings: Settings) -> ScoringRows:
    rows = ScoringRows(
        features=feature_build.build_scoring(con, as_of, settings),
        eligibility=world_facts.eligibility_facts(con, as_of, settings),
        history=world_facts.ask_history(con, as_of, settings),
        reference=feature_build.build_reference(con, as_of, settings, reference_days(settings)),
    )
    eligible = rows.features.loc[eligible_rows(rows, settings).to_numpy(), "contact_id"]
    return replace(rows, advocates=advocate_facts(con, as_of, eligible))  # the same roll-up


def weigh_asks(rows: Rows, out_dir: Path | None, as_of: date, settings: Settings) -> Rows:
    """The advocate rows with `weight`: 1 / inclusion probability for asks that an earlier
    published list's exploration slice led to, 1 for the others (`training.inclusion_weights`;
    the lists are the ones published next to this run's folder)."""
    if not settings.training.inclusion_weights:
        return rows
    target, _ = publish.resolve_out_dir(out_dir, as_of, settings.output_root)
    weeks = settings.windows.advocate_lookback_days // 7 + 1
    published = offpolicy.published_selections(Path(target).parent, as_of, weeks)
    training = []
    for r in rows.training:
        if r.spec is targets.ADVOCATE and len(published):
            w = inclusion_weights(r.frame[["contact_id", "t"]], published)
            r = TrainingRows(r.spec, r.frame.assign(**{WEIGHT: w}), r.facts)
        training.append(r)
    return Rows(tuple(training), rows.scoring)


def register_model(
    fitted: FittedTarget, settings: Settings, as_of: date, fingerprint: dict[str, Any]
) -> Candidate:
    """Log the run and register a candidate version; a retry reuses them (same run key)."""
    return tracking.register_candidate(fitted, settings, as_of=as_of, data_fingerprint=fingerprint)


def promote_models(candidates: Sequence[Candidate], settings: Settings) -> list[RegistryOutcome]:
    """Gate every candidate against its champion and move the aliases, all or none; retry-safe."""
    return tracking.promote_candidates(list(candidates), settings)


def load_champions(settings: Settings) -> tuple[Champion, ...]:
    """Every target's champion, pinned by version, with its run's metrics."""
    return tuple(tracking.load_champion(spec, settings) for spec in TARGETS)


def make_shortlist(
    data: Path, ranked: pd.DataFrame, rows: ScoringRows, as_of: date, settings: Settings
) -> Shortlist:
    """The ask plan over the eligible (budgets, caps, exploration slice), with contact details."""
    pool = ask_pool(ranked, rows)
    chances = activity.chance_by_type(rows.history, pool, settings)
    asks = plan.make_plan(chances, pool, as_of, settings)
    con = connect(data, engine=settings.engine)
    try:
        details = world_facts.contact_details(con, asks.listed["contact_id"].tolist())
    finally:
        con.close()
    candidates = outputs.candidates_table(ranked, asks.listed, details, as_of)
    selection = selection_of(ranked, pool, asks.listed, settings)
    return Shortlist(
        candidates, asks.by_activity, asks.messages, selection, reference_chance(chances)
    )


def ask_pool(ranked: pd.DataFrame, rows: ScoringRows) -> pd.DataFrame:
    """The eligible with what the plan reads: ids, persona, both scores, priority."""
    eligible = ranked.loc[ranked["eligible"], ["contact_id", "account_id", "priority"]]
    scores = [s.score_column for s in TARGETS]
    persona = rows.features[["contact_id", "contact_persona"]].rename(
        columns={"contact_persona": "persona"}
    )
    pool = eligible.merge(ranked[["contact_id", *scores]], on="contact_id", validate="one_to_one")
    return pool.merge(persona, on="contact_id", how="left", validate="one_to_one")


def selection_of(
    ranked: pd.DataFrame, pool: pd.DataFrame, listed: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Per scored contact: `selection` of the list row (None when not listed) and the
    `inclusion_probability`: a listed row's own (explore: the draw's, optimise: 1), else the
    chance the exploration draw had of listing the contact (0 for the ineligible)."""
    drawn = exploration.inclusion_probabilities(pool, settings)
    out = ranked[["contact_id"]].copy()
    out["inclusion_probability"] = (
        out["contact_id"].map(pd.Series(drawn.to_numpy(), index=pool["contact_id"])).fillna(0.0)
    )
    by_id = listed.set_index("contact_id")
    out["selection"] = out["contact_id"].map(by_id["selection"])
    own = out["contact_id"].map(by_id["inclusion_probability"])
    out["inclusion_probability"] = own.fillna(out["inclusion_probability"]).astype(float)
    return out


def reference_chance(chances: pd.DataFrame) -> pd.DataFrame:
    """contact_id, p_reference_call: the chance of yes to a reference call (deal matching)."""
    calls = chances[chances["activity_type"] == REFERENCE_CALL]
    return calls[["contact_id", "p_yes"]].rename(columns={"p_yes": f"p_{REFERENCE_CALL}"})


def match_deals(
    data: Path,
    as_of: date,
    ranked: pd.DataFrame,
    shortlist: Shortlist,
    rows: ScoringRows,
    settings: Settings,
) -> deal_matching.MatchInputs:
    """advocates.parquet's rows (the eligible: facts at T, scores, chance of a reference call)
    and the deals open at T (None without an opportunities table); docs/matching.md."""
    scored = ranked.merge(shortlist.reference, on="contact_id", how="left", validate="one_to_one")
    return deal_matching.match_inputs(data, as_of, scored, settings, rows.advocates)


def look_back(
    data: Path, as_of: date, settings: Settings, out_dir: Path | None, ranked: pd.DataFrame
) -> LookBack:
    """The lists published next to this run's folder in the last 12 weeks, with their outcome
    at T, and the program's health per week (`ranked`: this run's scores, for the pool)."""
    target, _ = publish.resolve_out_dir(out_dir, as_of, settings.output_root)
    con = connect(data, engine=settings.engine)
    try:
        earlier = lookback.earlier_lists(Path(target).parent, as_of, con, settings)
        health = program.program_health(con, as_of, settings, scores=ranked)
    finally:
        con.close()
    return LookBack(tuple(earlier), health)


def watch_drift(
    rows: ScoringRows,
    ranked: pd.DataFrame,
    champions: Sequence[Champion],
    as_of: date,
    settings: Settings,
    out_dir: Path | None,
) -> drift.DriftWatch:
    """Model inputs and both scores against the same population inside the training window
    (`rows.reference`, scored now by the same champions) and the previous published run."""
    scores = [s.score_column for s in TARGETS]
    current = rows.features.merge(
        ranked[["contact_id", *scores]], on="contact_id", how="left", validate="one_to_one"
    )
    reference = None
    if rows.reference is not None:
        models = {c.spec.name: c.model for c in champions}
        none = np.zeros(len(rows.reference), dtype=bool)
        scored = score.score_population(rows.reference, models, settings, explain_mask=none)
        reference = rows.reference.assign(**{s: scored[s].to_numpy() for s in scores})
    target, _ = publish.resolve_out_dir(out_dir, as_of, settings.output_root)
    previous = drift.previous_drift(
        [w.folder for w in lookback.published_weeks(Path(target).parent, as_of)]
    )
    label = f"training window ({reference_days(settings)} days before T)"
    columns = [*registry.feature_names(), *scores]
    return drift.watch(
        current, columns, registry.categorical_features(), previous, reference, label
    )


def reference_days(settings: Settings) -> int:
    """How far back the drift reference lies: the longest label window, so it is the newest
    date whose rows had all closed labels when the models were trained."""
    return max(spec.label_window(settings) for spec in TARGETS)


def publish_run(bundle: outputs.RunBundle, out_dir: Path | None, settings: Settings) -> Path:
    """Write the five files into a fresh folder and swap it into place (or nothing)."""
    target, point_latest = publish.resolve_out_dir(out_dir, bundle.as_of, settings.output_root)
    return publish.publish_atomically(target, bundle.write, point_latest=point_latest)


def log_lineage(bundle: outputs.RunBundle, published: Path) -> str:
    """The MLflow `publish-<as_of>` run (ids, counts, checksums only); its run id."""
    return lineage.log_lineage(bundle, published)


# ---------------------------------------------------------------- pure steps
def fit_model(rows: TrainingRows, settings: Settings) -> FittedTarget:
    return fit_target(rows.frame, rows.spec, settings, facts=rows.facts)


def fit_models(training: Sequence[TrainingRows], settings: Settings) -> list[FittedTarget]:
    """Every target's model, in target order; side by side when training may use more than
    one thread (`side_by_side`). The same models either way: each fit's LightGBM threads are
    its own, and nothing else is shared. A failure raises the first target's error in order,
    as one after the other would (the other fit is waited for: both are pure)."""
    if not side_by_side(training, settings):
        return [fit_model(r, settings) for r in training]
    *others, last = training
    waits = [_in_background(fit_model, r, settings) for r in others]
    mine: Outcome[FittedTarget]
    try:
        mine = (fit_model(last, settings), None)
    except Exception as exc:  # a stop signal (SystemExit) or Ctrl-C propagates at once
        mine = (None, exc)
    outcomes = [wait() for wait in waits] + [mine]
    for _, error in outcomes:
        if error is not None:
            raise error
    return [fitted for fitted, _ in outcomes if fitted is not None]


def side_by_side(training: Sequence[TrainingRows], settings: Settings) -> bool:
    """Fit targets side by side? When there are several and LightGBM may use more than one
    thread: at 1M contacts each fit keeps both cores only ~75% busy on its own (its Python
    parts run on one), and the two together took 56 s instead of 69 s (docs/benchmarks.md).
    With `training.num_threads: 1` (tests, shared machines) they run one after the other."""
    threads = settings.training.num_threads or os.cpu_count() or 1
    return len(training) > 1 and threads > 1


Outcome = tuple[T | None, BaseException | None]  # a background call's (value, error)


def _in_background(fn: Callable[..., T], /, *args: Any) -> Callable[[], Outcome[T]]:
    """Start `fn(*args)` in a daemon thread; a function that waits for (value, error).

    Daemon, so a stop signal in the main thread ends the process without waiting for a pure
    computation whose result nobody will read. It runs in a copy of the caller's context, so
    its log lines still reach the Prefect task run that started it."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the waiting thread, raised there
            box["error"] = exc

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(work,), name=f"advocacy-{fn.__name__}", daemon=True
    )
    thread.start()

    def wait() -> Outcome[T]:
        thread.join()
        return box.get("value"), box.get("error")

    return wait


def eligible_rows(rows: ScoringRows, settings: Settings) -> pd.Series:
    """True per scoring row (in `rows.features` order) that the eligibility rules let be asked."""
    facts = rows.features[["contact_id"]].merge(
        rows.eligibility, on="contact_id", how="left", validate="one_to_one"
    )
    return ineligible_reason(facts, settings).isna()


def score_and_rank(
    rows: ScoringRows, champions: Sequence[Champion], settings: Settings
) -> pd.DataFrame:
    """Scores for all; reasons for the eligible only (whom the list picks among), relative to
    the eligible population. Others' `reasons` is null: nobody reads them, and reasons are
    most of the scoring time."""
    models = {c.spec.name: c.model for c in champions}
    mask = eligible_rows(rows, settings).to_numpy()
    if settings.engine.name == "spark":
        from advocacy.pipelines.spark_engine import spark_scores

        scored = spark_scores(rows.features, champions, mask, settings)
    else:
        scored = score.score_population(
            rows.features, models, settings, explain_mask=mask, reference_mask=mask
        )
    return ranking.rank_population(scored, rows.eligibility, settings)


def value_of_list(
    ranked: pd.DataFrame,
    rows: ScoringRows,
    settings: Settings,
    shortlist: Shortlist | None = None,
) -> dict[str, Any]:
    """Expected yeses of this week's list against the NPS rule's list under the same rules."""
    listed = None if shortlist is None else shortlist.candidates["contact_id"]
    return program.value_vs_nps_rule(ranked, rows.features, settings, listed)


def assemble(
    checked: CheckedInputs,
    ranked: pd.DataFrame,
    shortlist: Shortlist,
    champions: Sequence[Champion],
    looked_back: LookBack | None = None,
    value: dict[str, Any] | None = None,
    drifted: drift.DriftWatch | None = None,
    matched: deal_matching.MatchInputs | None = None,
) -> outputs.RunBundle:
    job = checked.job
    return outputs.RunBundle.assemble(
        as_of=job.as_of, ranked=ranked, candidates=shortlist.candidates, champions=champions,
        selection=shortlist.selection, by_activity=shortlist.by_activity,
        plan_messages=shortlist.messages, matching=matched,
        inputs=checked.profiles, contracts=checked.contracts.to_dict(), settings=job.settings,
        earlier_lists=looked_back.earlier_lists if looked_back else (),
        program=looked_back.program if looked_back else None, value=value, drift=drifted,
    )  # fmt: skip


IO_STEPS = (
    configure_tracking, check_contracts, profile_inputs, build_rows, weigh_asks, register_model,
    promote_models, load_champions, make_shortlist, look_back, watch_drift, match_deals,
    publish_run,
    log_lineage,
)  # fmt: skip
PURE_STEPS = (fit_models, score_and_rank, value_of_list, assemble)


# ---------------------------------------------------------------- stages and jobs
def start(job: JobInputs, run: Runner = PLAIN) -> CheckedInputs:
    """Tracking, then the contracts (stop here on failure), then the profile."""
    targets.check_settings(job.settings)  # a misnamed target fails before any work
    run.step(configure_tracking, job.settings)
    report = run.step(check_contracts, job.data, job.as_of, job.settings, job.docs_dir)
    run.contracts_checked(report)
    if not report.ok:
        raise ContractError(report)
    return CheckedInputs(job, report, run.step(profile_inputs, job.data, job.as_of))


def train(checked: CheckedInputs, rows: Rows, run: Runner = PLAIN) -> list[RegistryOutcome]:
    """Fit every target, then register every one, then promote them together.

    A failure anywhere before the last step promotes nothing, and each step can be retried
    without duplicating versions.
    """
    runtime.raise_if_stopped()  # each stage starts only if no stop signal was swallowed
    job, settings = checked.job, checked.job.settings
    rows = run.step(weigh_asks, rows, job.out_dir, job.as_of, settings)
    fitted = run.step(fit_models, rows.training, settings)
    fingerprint = checked.fingerprint()
    candidates = [run.step(register_model, f, settings, job.as_of, fingerprint) for f in fitted]
    outcomes = run.step(promote_models, candidates, settings)
    run.trained(job.as_of, outcomes)
    return outcomes


def score_and_publish(checked: CheckedInputs, rows: Rows, run: Runner = PLAIN) -> Path:
    """Score with the champions, rank, shortlist, look back, publish the files, log the lineage."""
    if rows.scoring is None:
        raise ValueError("score_and_publish needs scoring rows (build_rows(scoring=True))")
    runtime.raise_if_stopped()
    job, settings = checked.job, checked.job.settings
    champions = run.step(load_champions, settings)
    ranked = run.step(score_and_rank, rows.scoring, champions, settings)
    shortlist = run.step(make_shortlist, job.data, ranked, rows.scoring, job.as_of, settings)
    looked_back = run.step(look_back, job.data, job.as_of, settings, job.out_dir, ranked)
    value = run.step(value_of_list, ranked, rows.scoring, settings, shortlist)
    drifted = run.step(
        watch_drift, rows.scoring, ranked, champions, job.as_of, settings, job.out_dir
    )
    matched = run.step(match_deals, job.data, job.as_of, ranked, shortlist, rows.scoring, settings)
    bundle = run.step(
        assemble, checked, ranked, shortlist, champions, looked_back, value, drifted, matched
    )
    runtime.raise_if_stopped()  # never publish after a stop signal
    published = run.step(publish_run, bundle, job.out_dir, settings)
    run.step(log_lineage, bundle, published)
    run.published(bundle, published)
    return published


def train_job(job: JobInputs, run: Runner = PLAIN) -> list[RegistryOutcome]:
    """Build training rows, fit every model, register, promote champions that earn it."""
    checked = start(job, run)
    rows = run.step(build_rows, job.data, job.as_of, job.settings, training=True, scoring=False)
    return train(checked, rows, run)


def score_job(job: JobInputs, run: Runner = PLAIN) -> Path:
    """Score with the current champions and publish; no training."""
    checked = start(job, run)
    rows = run.step(build_rows, job.data, job.as_of, job.settings, training=False)
    return score_and_publish(checked, rows, run)


def weekly_job(job: JobInputs, run: Runner = PLAIN) -> WeeklyResult:
    """The weekly job: contracts, rows, train, promote, score, publish."""
    checked = start(job, run)
    rows = run.step(build_rows, job.data, job.as_of, job.settings, training=True)
    outcomes = train(checked, rows, run)
    return WeeklyResult(outcomes, score_and_publish(checked, rows, run))
