"""The five published files of a run (docs/outputs.md): their schemas, their writing, run.json.

This module is the one owner of what a run publishes: the column lists of scores.parquet,
candidates.csv and program.csv, the spreadsheet-safe CSV writer, the file list and the manifest.
What leaves the output folder (the MLflow lineage run, Prefect artifacts) is
`advocacy.pipelines.lineage`. `candidates.csv` and `report.html` name people (full name, title,
e-mail): they stay here; `program.csv` holds counts per week only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from advocacy.models import fallback
from advocacy.models.trust import Trust
from advocacy.monitoring import program as program_health
from advocacy.monitoring.drift import DriftWatch
from advocacy.monitoring.lookback import ListOutcome
from advocacy.pipelines import match as deal_matching
from advocacy.pipelines.publish import sha256_of
from advocacy.pipelines.report import render_report
from advocacy.policy import plan
from advocacy.policy.eligibility import rules_summary
from advocacy.settings import Settings

if TYPE_CHECKING:
    from advocacy.models.tracking import Champion

log = logging.getLogger(__name__)

# run.json last: it holds the others' checksums, and its presence marks a complete publish.
FILES = (
    "scores.parquet", "candidates.csv", "program.csv", deal_matching.ADVOCATES_FILE,
    deal_matching.MATCHES_FILE, "report.html", "run.json",
)  # fmt: skip
# `reasons` in scores.parquet: text for the eligible, null for the ineligible (not computed).
SCORES_COLUMNS = (
    "contact_id", "account_id", "as_of", "p_advocate", "p_burnout", "priority",
    "eligible", "ineligible_reason", "selection", "inclusion_probability", "reasons",
    "model_versions",
)  # fmt: skip
CANDIDATES_COLUMNS = (
    "rank", "contact_id", "full_name", "email", "title", "account_id", "account_name",
    "segment", "industry", "p_advocate", "p_burnout", "priority", "suggested_activity",
    "p_yes", "expected_value", "selection", "inclusion_probability", "reasons", "as_of",
)  # fmt: skip
# The ask plan's per-activity table in run.json and the report (policy/plan.py).
BY_ACTIVITY_COLUMNS = plan.BY_ACTIVITY_COLUMNS
# program.csv: one row per week, oldest first (built by monitoring/program.py; docs/outputs.md).
PROGRAM_COLUMNS = program_health.PROGRAM_COLUMNS
COMPARED = (
    ("model", "LightGBM (this model)"),
    ("nps", "Latest-NPS rule"),
    ("logreg", "Logistic regression"),
)
# A fallback champion (models/fallback.py): the rule it scores with first, LightGBM named unused.
FALLBACK_COMPARED = (
    ("ranker", "NPS rule, calibrated (scores this week)"),
    ("model", "LightGBM (not trusted, not used)"),
    ("nps", "Latest-NPS rule"),
    ("logreg", "Logistic regression"),
)
RANKER_WORDS = {fallback.LIGHTGBM: "LightGBM", fallback.RULE: "the NPS rule"}


def now_utc() -> str:
    """The run's `generated_at` (ISO, seconds); tests replace it to compare two runs' bytes."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _pipeline_version() -> str:
    try:
        return version("advocacy-pipeline")
    except PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------- the two tables
def model_versions_text(versions: dict[str, int]) -> str:
    """'advocacy-propensity=3,advocacy-burnout=2': which registry versions scored a row."""
    return ",".join(f"{name}={version}" for name, version in versions.items())


def scores_table(
    ranked: pd.DataFrame,
    as_of: date,
    versions: dict[str, int],
    selection: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """scores.parquet: every scored contact, ranked, with why it is (not) eligible.

    `reasons` is text for the eligible rows (possibly empty: no driver stood out) and null for
    the ineligible, whose reasons are not computed (`job.score_and_rank`). `selection` (per
    contact_id: selection, inclusion_probability; `job.selection_of`) says how the list chose.
    """
    out = ranked.copy()
    if selection is None:
        out["selection"], out["inclusion_probability"] = None, 0.0
    else:
        chosen = selection.set_index("contact_id")
        out["selection"] = out["contact_id"].map(chosen["selection"])
        out["inclusion_probability"] = out["contact_id"].map(chosen["inclusion_probability"])
    out["selection"] = out["selection"].astype("str").where(out["selection"].notna())
    out["inclusion_probability"] = out["inclusion_probability"].astype(float).fillna(0.0)
    out["as_of"] = pd.Timestamp(as_of).date()
    out["model_versions"] = model_versions_text(versions)
    out["eligible"] = out["eligible"].astype(bool)
    out["reasons"] = out["reasons"].astype("str")  # a text column even when all are null
    return out[list(SCORES_COLUMNS)]


def candidates_table(
    ranked: pd.DataFrame, listed: pd.DataFrame, details: pd.DataFrame, as_of: date
) -> pd.DataFrame:
    """The marketer's list: the ask plan's rows (`policy.plan.AskPlan.listed`: rank, the
    assigned activity, selection, inclusion probability) with scores, reasons and details."""
    scored = ranked[["contact_id", "p_advocate", "priority", "reasons"]]
    out = listed.merge(scored, on="contact_id", how="left", validate="one_to_one")
    out = out.merge(details, on="contact_id", how="left", validate="one_to_one")
    out["suggested_activity"] = out["activity_type"]
    out["as_of"] = pd.Timestamp(as_of).date()
    for col in ("p_advocate", "p_burnout", "priority", "p_yes", "expected_value"):
        out[col] = out[col].astype(float).round(4)
    return out.sort_values("rank", kind="mergesort").reset_index(drop=True)[
        list(CANDIDATES_COLUMNS)
    ]


# ---------------------------------------------------------------- spreadsheet safety
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """`'` before a text value a spreadsheet would run as a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell neutralised; numbers, booleans, dates and nulls untouched.

    Only text is escaped: a negative probability or rank stays a number in the file.
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if not (
            pd.api.types.is_numeric_dtype(s)
            or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_datetime64_any_dtype(s)
        ):
            out[col] = s.map(neutralise_formula, na_action="ignore")
    return out


def write_candidates_csv(
    candidates: pd.DataFrame, path: Path, *, encoding: str = "utf-8-sig"
) -> None:
    """candidates.csv for people with spreadsheets: formula cells neutralised, BOM by default.

    `utf-8-sig` writes a byte-order mark so Excel and LibreOffice's default import read the
    file as UTF-8 ("Rómulo", not "RÃ³mulo"); `utf-8` leaves it out. Rows end in CRLF
    (RFC 4180), which also makes the writer quote any cell holding a bare CR or LF.
    """
    spreadsheet_safe(candidates).to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")


def program_table(program: pd.DataFrame | None) -> pd.DataFrame:
    """program.csv's rows in `PROGRAM_COLUMNS` order (no rows when the run had no look-back)."""
    if program is None:
        return pd.DataFrame(columns=list(PROGRAM_COLUMNS))
    return program[list(PROGRAM_COLUMNS)]


def write_program_csv(
    program: pd.DataFrame | None, path: Path, *, encoding: str = "utf-8-sig"
) -> None:
    """program.csv: written like candidates.csv (formula cells neutralised, BOM, CRLF); empty
    cells where a measure is not known yet."""
    write_candidates_csv(program_table(program), path, encoding=encoding)


# ---------------------------------------------------------------- the models that scored
def champion_summary(champion: Champion, settings: Settings | None = None) -> dict[str, Any]:
    """Registry version, run id, holdout metrics, and which ranker scored this run and why.

    `fallback`: the banner's numbers when the champion is the NPS-rule fallback (else None);
    `few_asks`: its holdout was too small to read closely, so every AUC shows its interval.
    """
    metrics = dict(champion.metrics)
    ranker = getattr(champion, "ranker", fallback.LIGHTGBM)
    raw_trust = getattr(champion, "trust", None)
    trust = Trust.from_dict(raw_trust) if raw_trust else None
    entry = fallback.summary(trust, ranker)
    few = trust is not None and settings is not None and fallback.few_asks(trust, settings)
    compared = COMPARED if ranker == fallback.LIGHTGBM else FALLBACK_COMPARED
    rows = [row for key, label in compared if (row := _metric_row(metrics, key, label, few))]
    spec = champion.spec
    banner = _banner(entry, settings) if ranker != fallback.LIGHTGBM else None
    return {
        "target": spec.name, "title": spec.title, "score_column": spec.score_column,
        "name": champion.name, "version": int(champion.version), "run_id": champion.run_id,
        "metrics": metrics, "rows": rows, **entry, "few_asks": few, "fallback": banner,
        "ranker_words": RANKER_WORDS.get(ranker, ranker),
    }  # fmt: skip


def _metric_row(
    metrics: dict[str, float], key: str, label: str, all_intervals: bool
) -> dict[str, Any] | None:
    """One line of the model table; the AUC interval for the model (or all, with few asks)."""
    prefix = f"holdout_{key}_"
    m = {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}
    if not m:
        return None
    show = key == "model" or all_intervals
    low, high = m.get("auc_low"), m.get("auc_high")
    interval = f"[{low:.2f}, {high:.2f}]" if show and low is not None and high is not None else ""
    return {
        "label": label,
        **{k: _fmt(m.get(k)) for k in ("auc", "pr_auc", "log_loss", "brier")},
        "auc_interval": interval,
        "lift": _fmt(m.get("lift_top_decile"), 2),
        "n": int(m["n_rows"]) if "n_rows" in m else "",
    }


def _banner(entry: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
    """The numbers the report's fallback banner states (NaN-free: None reads as 'n/a')."""
    interval = entry.get("interval") or {}
    margin = settings.promotion.min_auc_margin_over_rule if settings is not None else None
    return {
        "reason": entry.get("reason") or "the holdout did not trust the model",
        "holdout_rows": entry.get("holdout_rows"), "positives": entry.get("positives"),
        "model_auc": _fmt(interval.get("auc")), "low": _fmt(interval.get("low")),
        "high": _fmt(interval.get("high")),
        "level": round(100 * interval["level"]) if interval.get("level") else None,
        "rule_auc": _fmt(entry.get("rule_auc")), "margin": margin,
    }  # fmt: skip


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"  # NaN != NaN


# ---------------------------------------------------------------- the bundle
@dataclass
class RunBundle:
    """Everything a run publishes, ready to be written into a (temporary) folder."""

    as_of: date
    scores: pd.DataFrame
    candidates: pd.DataFrame
    models: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    contracts: dict[str, Any]
    settings: Settings
    generated_at: str = field(default_factory=lambda: now_utc())
    # The look-back (monitoring/): earlier lists' outcomes at T, program health per week, the
    # value line; drift against the training window and the previous run.
    earlier_lists: list[ListOutcome] = field(default_factory=list)
    program: pd.DataFrame | None = None
    value: dict[str, Any] | None = None
    drift: DriftWatch | None = None
    # The ask plan (policy/plan.py): per activity type budget vs filled, and its notes.
    by_activity: pd.DataFrame | None = None
    plan_messages: tuple[str, ...] = ()
    # Deal matching (pipelines/match.py): the eligible advocates and the deals open at T.
    matching: deal_matching.MatchInputs | None = None

    @classmethod
    def assemble(
        cls,
        *,
        as_of: date,
        ranked: pd.DataFrame,
        candidates: pd.DataFrame,
        champions: Sequence[Champion],
        inputs: list[dict[str, Any]],
        contracts: dict[str, Any],
        settings: Settings,
        earlier_lists: Sequence[ListOutcome] = (),
        program: pd.DataFrame | None = None,
        value: dict[str, Any] | None = None,
        drift: DriftWatch | None = None,
        selection: pd.DataFrame | None = None,
        by_activity: pd.DataFrame | None = None,
        plan_messages: Sequence[str] = (),
        matching: deal_matching.MatchInputs | None = None,
    ) -> RunBundle:
        """The bundle of one run: no I/O (the champions carry their metrics)."""
        models = [champion_summary(c, settings) for c in champions]
        versions = {m["name"]: m["version"] for m in models}
        return cls(
            as_of=as_of, scores=scores_table(ranked, as_of, versions, selection),
            candidates=candidates, models=models, inputs=inputs, contracts=contracts,
            settings=settings, earlier_lists=list(earlier_lists), program=program, value=value,
            drift=drift, by_activity=by_activity, plan_messages=tuple(plan_messages),
            matching=matching,
        )  # fmt: skip

    def write(self, folder: Path) -> None:
        """Write the five files; run.json last, with the others' checksums."""
        scores, candidates, program, _, _, report, manifest = (folder / f for f in FILES)
        self.scores.to_parquet(scores, index=False)
        encoding = self.settings.outputs.csv_encoding
        write_candidates_csv(self.candidates, candidates, encoding=encoding)
        write_program_csv(self.program, program, encoding=encoding)
        matches = deal_matching.write_match_files(folder, self.matching, self.settings)
        report.write_text(self._report_html(matches), encoding="utf-8")
        content = self.manifest({f: folder / f for f in FILES[:-1]})
        manifest.write_text(json.dumps(content, indent=2, default=str), encoding="utf-8")

    def _report_html(self, matches: pd.DataFrame | None = None) -> str:
        return render_report(
            as_of=self.as_of, candidates=self.candidates, scores=self.scores, models=self.models,
            inputs=self.inputs, contracts_ok=bool(self.contracts.get("ok", True)),
            generated_at=self.generated_at, settings_summary=settings_summary(self.settings),
            earlier_lists=[o.to_dict() for o in self.earlier_lists],
            program=program_table(self.program), value=self.value,
            drift=[r.to_html() for r in self.drift.reports] if self.drift else [],
            drifted={r.label: r.drifted for r in self.drift.reports} if self.drift else {},
            by_activity=self.by_activity, plan_messages=self.plan_messages, matches=matches,
            open_deals=self.open_deals(),
        )  # fmt: skip

    def manifest(self, files: dict[str, Path]) -> dict[str, Any]:
        """run.json: inputs, contracts, models, counts, output checksums, all settings."""
        return {
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at,
            "pipeline_version": _pipeline_version(),
            "inputs": {p["table"]: p for p in self.inputs},
            "contracts": self.contracts,
            "models": [_manifest_model(m) for m in self.models],
            "counts": self.counts(),
            "earlier_lists": [o.to_dict() for o in self.earlier_lists],
            "program": program_health.program_summary(program_table(self.program), self.settings),
            "value": self.value,
            "ask_plan": self.plan_manifest(),
            "drift": self.drift.to_manifest() if self.drift else None,
            "outputs": {
                name: {"sha256": sha256_of(path), "bytes": path.stat().st_size}
                for name, path in files.items()
            },
            "settings": self.settings.model_dump(mode="json"),
        }

    def plan_manifest(self) -> dict[str, Any]:
        """run.json's `ask_plan`: per activity type budget, filled, explored, expected yeses
        and burnouts, and the greedy top-N under the same rules; the plan's notes."""
        table = self.by_activity
        rows = [] if table is None else json.loads(table.to_json(orient="records"))
        return {"by_activity": rows, "messages": list(self.plan_messages)}

    def open_deals(self) -> int | None:
        """How many opportunities were open at T (None: the data folder has no such table)."""
        deals = self.matching.open_opportunities if self.matching is not None else None
        return None if deals is None else len(deals)

    def counts(self) -> dict[str, int]:
        explored = self.candidates["selection"].eq("explore") if len(self.candidates) else []
        return {
            "scored": len(self.scores),
            "eligible": int(self.scores["eligible"].sum()),
            "shortlisted": len(self.candidates),
            "explored": int(sum(explored)),
        }


MANIFEST_MODEL_KEYS = (
    "target", "name", "version", "run_id",
    "ranker", "verdict", "reason", "interval", "holdout_rows", "positives", "rule_auc",
)  # fmt: skip


def _manifest_model(m: dict[str, Any]) -> dict[str, Any]:
    """One model in run.json: its version, what it ranks with and why (docs/fallback.md)."""
    holdout = {k: v for k, v in m["metrics"].items() if k.startswith("holdout_")}
    return {k: m[k] for k in MANIFEST_MODEL_KEYS if k in m} | {"holdout_metrics": holdout}


def ranker_lines(manifest: dict[str, Any]) -> list[str]:
    """One plain line per model of run.json that scored with the fallback ranker (the CLI)."""
    return [
        f"{m['target']}: ranked by the NPS rule (fallback), not LightGBM: {m.get('reason') or '-'} "
        f"({m['name']} v{m['version']}; docs/fallback.md)"
        for m in manifest.get("models", [])
        if m.get("ranker", fallback.LIGHTGBM) != fallback.LIGHTGBM
    ]


def settings_summary(settings: Settings) -> dict[str, Any]:
    """The knobs the report names in its text: the cap, the label windows, the rules."""
    return {
        "max_per_account": settings.ranking.max_per_account,
        "burnout_weight": settings.asks.burnout_weight,
        "explore_share": settings.asks.explore_share,
        "references_per_opportunity": settings.matching.references_per_opportunity,
        "per_advocate_cap": settings.matching.per_advocate_cap,
        "max_open_deals": settings.matching.max_open_deals,
        "response_window_days": settings.windows.response_window_days,
        "burnout_horizon_days": settings.windows.burnout_horizon_days,
        "min_holdout_rows": settings.promotion.min_holdout_rows,
        "min_holdout_positives": settings.promotion.min_holdout_positives,
        **rules_summary(settings),
    }
