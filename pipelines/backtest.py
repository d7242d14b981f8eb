"""`advocacy backtest`: replay the weekly job at many past dates, then judge each by what followed.

At each as_of the job's own steps run (`pipelines/job.py`: build_rows, fit_models,
score_and_rank, make_shortlist, assemble, publish_run into OUT/<as_of>/), but the freshly
fitted models score in memory: nothing is registered or promoted, the production registry and
its champions are never read or moved. Each date sees only rows before it (the features'
point-in-time rules), so the full files give the same scores as files cut at that date.

Done once for all dates: the contracts on the full files (at the first date, which has the
least history), the tracking set-up, the files' end (`monitoring.backtest.data_end`) and one
DuckDB connection for the measures. Per date: rows, training, scoring, publishing, measures
(`monitoring.backtest`). Then OUT/backtest.csv, OUT/backtest.html and one MLflow parent run
`backtest-<from>-<to>` with a child per date (counts and metrics only, no personal data); a
rerun with the same range, data and settings reuses both (tag `advocacy.backtest_key`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from jinja2 import Environment, PackageLoader
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from advocacy.data_contracts.load import connect
from advocacy.models import targets, tracking
from advocacy.models.plots import figure_png
from advocacy.models.targets import ADVOCATE
from advocacy.models.tracking import Champion
from advocacy.monitoring import backtest as measures
from advocacy.monitoring import offpolicy
from advocacy.pipelines import job, outputs, publish, runtime
from advocacy.pipelines.progress import Progress
from advocacy.pipelines.report import CHART_DPI
from advocacy.settings import Settings

log = logging.getLogger(__name__)

TAG_KEY = "advocacy.backtest_key"
TAG_AS_OF = "advocacy.backtest_as_of"
TAG_KIND = "advocacy.kind"
CSV, HTML = "backtest.csv", "backtest.html"
BACKTEST_VERSION = 0  # `model_versions` of a backtest's scores: fitted in memory, not registered
NPS_FEATURE = "nps_latest"


@dataclass(frozen=True)
class BacktestInputs:
    data: Path
    start: date
    end: date
    every: int
    out_dir: Path
    settings: Settings
    docs_dir: Path | None = None


@dataclass(frozen=True)
class BacktestResult:
    dates: list[date]
    published: list[Path]
    table: pd.DataFrame
    parent_run_id: str
    seconds: list[float]  # wall time per date (replay, measures, MLflow)


def backtest_dates(start: date, end: date, every: int) -> list[date]:
    """start, start + every, ... up to end (inclusive)."""
    if every < 1 or end < start:
        raise ValueError(f"need --from <= --to and --every >= 1 (got {start}, {end}, {every})")
    return [start + timedelta(days=k * every) for k in range((end - start).days // every + 1)]


# ---------------------------------------------------------------- one date
def in_memory_champion(fitted: Any, settings: Settings, run_id: str) -> Champion:
    """A `Champion` around a model fitted this minute (what score_and_rank and assemble read)."""
    trust = getattr(fitted, "trust", None)
    return Champion(
        spec=fitted.spec, name=fitted.spec.model_name(settings), version=BACKTEST_VERSION,
        run_id=run_id, metrics=tracking.candidate_metrics(fitted, settings), model=fitted.model,
        ranker=tracking.ranker_of(fitted), trust=trust.to_dict() if trust is not None else None,
    )  # fmt: skip


@dataclass(frozen=True)
class Replayed:
    published: Path
    scored: pd.DataFrame  # contact_id, p_advocate, p_burnout, nps_latest
    listed: pd.DataFrame  # contact_id, p_advocate (the published list)
    base_rate: float  # the advocate model's training base rate
    champions: tuple[Champion, ...]
    lists: measures.PolicyLists  # what the off-policy block compares (contact ids only)


def replay_date(
    bt: BacktestInputs, as_of: date, contracts: Any, run_id: str, run: job.Runner = job.PLAIN
) -> Replayed:
    """The weekly job at `as_of` with in-memory models, published into OUT/<as_of>/."""
    settings, out = bt.settings, bt.out_dir / as_of.isoformat()
    profiles = run.step(job.profile_inputs, bt.data, as_of)
    rows = run.step(job.build_rows, bt.data, as_of, settings, training=True)
    fitted = run.step(job.fit_models, rows.training, settings)
    champions = tuple(in_memory_champion(f, settings, run_id) for f in fitted)
    ranked = run.step(job.score_and_rank, rows.scoring, champions, settings)
    shortlist = run.step(job.make_shortlist, bt.data, ranked, rows.scoring, as_of, settings)
    checked = job.CheckedInputs(job.JobInputs(bt.data, as_of, settings, out), contracts, profiles)
    looked_back = run.step(job.look_back, bt.data, as_of, settings, out, ranked)
    value = run.step(job.value_of_list, ranked, rows.scoring, settings)
    drifted = run.step(job.watch_drift, rows.scoring, ranked, champions, as_of, settings, out)
    bundle = run.step(
        job.assemble, checked, ranked, shortlist, champions, looked_back, value, drifted
    )
    runtime.raise_if_stopped()  # never publish after a stop signal
    published = run.step(job.publish_run, bundle, out, settings)
    nps = rows.scoring.features[["contact_id", NPS_FEATURE]]
    scored = bundle.scores[["contact_id", "p_advocate", "p_burnout"]].merge(
        nps, on="contact_id", how="left", validate="one_to_one"
    )
    advocate = next(f for f in fitted if f.spec.name == ADVOCATE.name)
    listed = bundle.candidates[["contact_id", "p_advocate"]]
    lists = measures.policy_lists(
        bt.out_dir, as_of, bundle.candidates, ranked, rows.scoring.features, settings
    )
    base_rate = float(advocate.base_rate_fit)
    return Replayed(published, scored, listed, base_rate, champions, lists)


# ---------------------------------------------------------------- MLflow: parent and children
def backtest_key(bt: BacktestInputs, dates: Sequence[date], checksums: dict[str, str]) -> str:
    """What makes one backtest unique: its dates, the files' checksums, all settings."""
    head = {
        "dates": [d.isoformat() for d in dates], "data": checksums,
        "settings": bt.settings.model_dump(mode="json"),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode()).hexdigest()


def _find_run(client: MlflowClient, experiment_id: str, filters: str) -> str | None:
    found = client.search_runs([experiment_id], filter_string=filters, max_results=1)
    return found[0].info.run_id if found else None


def _open_run(
    client: MlflowClient, experiment_id: str, filters: str, name: str, tags: dict[str, str]
) -> str:
    """The run matching `filters` (a rerun: marked running again), else a new one."""
    run_id = _find_run(client, experiment_id, filters)
    all_tags = {MLFLOW_RUN_NAME: name, **tags, **tracking.run_identity_tags()}
    if run_id is None:
        return client.create_run(experiment_id, tags=all_tags, run_name=name).info.run_id
    client.update_run(run_id, status="RUNNING")
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in all_tags.items()])
    return run_id


def open_parent(client: MlflowClient, experiment_id: str, key: str, bt: BacktestInputs) -> str:
    name = f"backtest-{bt.start.isoformat()}-{bt.end.isoformat()}"
    filters = f"tags.`{TAG_KEY}` = '{key}' and tags.`{TAG_KIND}` = 'backtest'"
    return _open_run(client, experiment_id, filters, name, {TAG_KEY: key, TAG_KIND: "backtest"})


def open_child(client: MlflowClient, experiment_id: str, parent: str, as_of: date) -> str:
    filters = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}' and tags.`{TAG_AS_OF}` = '{as_of}'"
    tags = {MLFLOW_PARENT_RUN_ID: parent, TAG_AS_OF: as_of.isoformat(), TAG_KIND: "backtest-date"}
    return _open_run(client, experiment_id, filters, f"backtest-{as_of.isoformat()}", tags)


def log_child(
    client: MlflowClient, run_id: str, row: dict[str, Any], replayed: Replayed, counts: dict
) -> None:
    """Numbers only: the date's measures (empty cells left out), counts, holdout metrics."""
    values = {k: v for k, v in row.items() if isinstance(v, int | float) and v is not None}
    values |= {f"published_{k}": v for k, v in counts.items()}
    for c in replayed.champions:
        values |= {
            f"{c.spec.name}_{k}": v for k, v in c.metrics.items() if k.startswith("holdout_")
        }
    metrics = [Metric(k, float(v), 0, 0) for k, v in values.items() if v == v]  # NaN dropped
    params = [Param("as_of", str(row["as_of"]))] + [
        Param(f"ranker_{c.spec.name}", c.ranker) for c in replayed.champions
    ]
    existing = client.get_run(run_id).data.params
    params = [p for p in params if p.key not in existing]  # params are write-once
    for start in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[start : start + 900])
    client.log_batch(run_id, params=params)
    client.set_terminated(run_id, "FINISHED")


# ---------------------------------------------------------------- files
def _atomic_write(path: Path, text: str) -> None:
    """Write `text` next to `path` and rename it into place: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(table: pd.DataFrame) -> str:
    """backtest.csv: formula-safe cells (pipelines/outputs.py), empty where not measured."""
    out = table.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, date | pd.Timestamp)).any():
            out[col] = out[col].map(lambda v: v.isoformat() if pd.notna(v) else None)
    return outputs.spreadsheet_safe(out).to_csv(
        index=False, lineterminator="\r\n", float_format="%.6g"
    )


def write_results(out_dir: Path, table: pd.DataFrame, html: str) -> None:
    _atomic_write(out_dir / CSV, csv_text(table))
    _atomic_write(out_dir / HTML, html)


# ---------------------------------------------------------------- the HTML
CHARTS = (
    ("Ranking: AUC", (("auc_advocate", "p_advocate"), ("auc_advocate_nps_rule", "NPS rule"),
                      ("auc_burnout", "p_burnout"))),
    ("Calibration error (ECE)", (("ece_advocate", "p_advocate"), ("ece_burnout", "p_burnout"))),
    ("The published list", (("list_asked", "asked"), ("list_yes", "said yes"),
                            ("list_expected_yes", "expected yes"))),
    ("Off-policy: yes per ask", (("ope_optimise_snips", "optimised (SNIPS)"),
                                 ("ope_nps_snips", "NPS rule (SNIPS)"),
                                 ("ope_explore_yes", "pool, exploration"),
                                 ("ope_pool_p_advocate", "pool, mean p_advocate"))),
)  # fmt: skip
UNIT_SCALE = ("AUC", "ECE", "Off-policy")  # panels on [0, 1]


def backtest_chart(table: pd.DataFrame) -> str:
    """The measures over time, one panel per question, as an inline PNG (empty cells: gaps)."""
    fig = Figure(figsize=(15, 3.4))
    FigureCanvasAgg(fig)  # no pyplot state, no GUI backend (as pipelines/report.py)
    x = pd.to_datetime(table["as_of"])
    for ax, (title, series) in zip(fig.subplots(1, len(CHARTS)), CHARTS, strict=True):
        for col, label in series:
            ax.plot(x, pd.to_numeric(table[col], errors="coerce"), marker="o", label=label)
        ax.set_title(title, fontsize=10)
        if any(k in title for k in UNIT_SCALE):  # rates live on [0, 1]: keep the scale honest
            ax.set_ylim(0.0, 1.0)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = figure_png(fig, dpi=CHART_DPI, tight=True)
    return "data:image/png;base64," + base64.b64encode(png).decode()


OPE_SHOWN = (
    "as_of", "ope_n_lists", "ope_n_explored", "ope_n_logged", "ope_logged_yes",
    "ope_optimise_snips", "ope_nps_snips", "ope_explore_yes", "ope_pool_p_advocate",
)  # fmt: skip


def backtest_html(table: pd.DataFrame, settings: Settings, generated_at: str) -> str:
    """OUT/backtest.html: the charts, the off-policy verdicts and the table (Jinja2, every
    value escaped)."""
    env = Environment(loader=PackageLoader("advocacy.pipelines", "templates"), autoescape=True)
    shown = table.astype(object).where(table.notna(), None)
    records = shown.to_dict("records")
    return env.get_template(HTML).render(
        columns=[c for c in table.columns if c != "ope_verdict"], rows=records,
        ope_columns=list(OPE_SHOWN), ope_summary=measures.ope_summary(table),
        chart=backtest_chart(table),
        generated_at=generated_at, first=table["as_of"].min(), last=table["as_of"].max(),
        window=settings.windows.response_window_days,
        horizon=settings.windows.burnout_horizon_days,
        level=f"{measures.OPE_LEVEL:.0%}", min_logged=offpolicy.MIN_LOGGED,
    )  # fmt: skip


# ---------------------------------------------------------------- where it publishes
def check_out(out_dir: Path, dates: Sequence[date]) -> Path:
    """OUT is new, empty, or an earlier backtest's (it holds backtest.csv); each OUT/<as_of>
    is a folder a publish may replace. `UnsafeOutputError` (exit 2) otherwise, before work.

    An empty or new OUT gets `publish.check_target`'s checks (not the filesystem root, the
    working or home folder, the MLflow store, or one holding them).
    """
    path = Path(out_dir).resolve()
    if path.exists() and not path.is_dir():
        raise publish.UnsafeOutputError(f"refusing to write a backtest into {path}: not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not (path / CSV).is_file():
            raise publish.UnsafeOutputError(
                f"refusing to write a backtest into {path}: it is not empty and holds no {CSV} "
                "of an earlier backtest; choose an empty or new folder"
            )
    else:
        publish.check_target(path)
    for as_of in dates:
        publish.check_target(path / as_of.isoformat())
    return path


# ---------------------------------------------------------------- the whole backtest
def check_once(bt: BacktestInputs) -> Any:
    """The contracts on the full files, once (freshness at the first date); raises on failure."""
    targets.check_settings(bt.settings)
    job.configure_tracking(bt.settings)
    report = job.check_contracts(bt.data, bt.start, bt.settings, bt.docs_dir)
    if not report.ok:
        raise job.ContractError(report)
    return report


def run_backtest(
    bt: BacktestInputs, progress: Progress | None = None, run: job.Runner = job.PLAIN
) -> BacktestResult:
    """Replay every date, measure it, write backtest.csv/.html, log the MLflow runs."""
    dates = backtest_dates(bt.start, bt.end, bt.every)
    check_out(bt.out_dir, dates)
    contracts = check_once(bt)
    shown = progress or Progress(quiet=True)
    client = MlflowClient()
    # the store's own rules (new store only with --new-store, under the registry lock)
    experiment_id = tracking.ensure_experiment(mlflow.get_tracking_uri(), bt.settings)
    con = connect(bt.data, engine=bt.settings.engine)
    try:
        end = measures.data_end(con)
        checksums = {p["table"]: p["sha256"] for p in job.profile_inputs(bt.data, bt.start)}
        parent = open_parent(client, experiment_id, backtest_key(bt, dates, checksums), bt)
        rows, published, seconds = [], [], []
        for as_of in dates:
            runtime.raise_if_stopped()
            began = time.perf_counter()
            with shown.stage(f"backtest {as_of.isoformat()}") as stage:
                row, folder = _one_date(
                    bt, as_of, contracts, con, end, client, experiment_id, parent, run
                )
                stage.rows = row.get("n_asks_after")
            rows.append(row)
            published.append(folder)
            seconds.append(time.perf_counter() - began)
    finally:
        con.close()
    table = measures.results_frame(rows)
    write_results(bt.out_dir, table, backtest_html(table, bt.settings, outputs.now_utc()))
    client.log_batch(parent, params=_parent_params(client, parent, bt, dates, end))
    client.set_terminated(parent, "FINISHED")
    return BacktestResult(dates, published, table, parent, seconds)


def _one_date(
    bt: BacktestInputs, as_of: date, contracts: Any, con: Any, end: Any,
    client: MlflowClient, experiment_id: str, parent: str, run: job.Runner,
) -> tuple[dict[str, Any], Path]:  # fmt: skip
    child = open_child(client, experiment_id, parent, as_of)
    replayed = replay_date(bt, as_of, contracts, child, run)
    row = measures.measure_date(
        con, as_of, replayed.scored, replayed.listed, bt.settings,
        end=end, base_rate=replayed.base_rate, lists=replayed.lists,
    )  # fmt: skip
    counts = {"scored": len(replayed.scored), "shortlisted": len(replayed.listed)}
    log_child(client, child, row, replayed, counts)
    log.info("backtest %s published to %s", as_of, replayed.published)
    return row, replayed.published


def _parent_params(
    client: MlflowClient, parent: str, bt: BacktestInputs, dates: Sequence[date], end: Any
) -> list[Param]:
    values = {
        "from": bt.start.isoformat(), "to": bt.end.isoformat(), "every_days": str(bt.every),
        "n_dates": str(len(dates)), "data_end": str(end),
    }  # fmt: skip
    existing = client.get_run(parent).data.params
    return [Param(k, v) for k, v in values.items() if k not in existing]
