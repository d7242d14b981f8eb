"""What happened after a backtest date: the realised measures of one published as_of.

Pure logic over the loaded input tables (one DuckDB connection on the full files) and the
scores the backtest published for that date. Every outcome is read with the label rules of
`features.labels` (run at a later "export time"), every number with `models.evaluate`:

- asks: each contact's first ask requested in [T, T + response window) (whoever asked), its
  label as `advocate_label_rows` defines it, against the published `p_advocate` and the NPS
  rule (`models.baselines.nps_heuristic`) on the same rows; closed at T + 2 windows (the last
  ask's own window has closed);
- burnout: the active advocates at T (the burnout snapshot s = T of `burnout_label_rows`),
  burnout in (T, T + horizon], against `p_burnout`; closed at T + horizon;
- the list: `monitoring.lookback.list_outcome` over [T, T + response window); closed then;
- off-policy (`ope_*`): the exploration asks of the lists published before T, with their
  answers, estimate with SNIPS / IPS (`monitoring.offpolicy`) the yes rate of this date's
  optimised rows and of the NPS rule's list; closed at T + 2 windows (every logged ask of a
  list dated before T has settled by then).

The files' end is the newest event time in them (`data_end`): a block whose window closes
after it gets empty cells (None), never a partial number.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from advocacy.data_contracts.tables import TABLES
from advocacy.features.labels import advocate_label_rows, burnout_label_rows
from advocacy.models.baselines import nps_heuristic
from advocacy.models.evaluate import binary_metrics
from advocacy.models.targets import ADVOCATE
from advocacy.monitoring import offpolicy
from advocacy.monitoring.lookback import listed_outcomes
from advocacy.monitoring.program import nps_rule_list
from advocacy.settings import Settings

log = logging.getLogger(__name__)

ADVOCATE_COLUMNS = (
    "n_asks_after", "asks_yes", "auc_advocate", "auc_advocate_nps_rule", "log_loss_advocate",
    "log_loss_advocate_nps_rule", "ece_advocate",
)  # fmt: skip
BURNOUT_COLUMNS = ("n_advocates", "n_burnouts", "auc_burnout", "ece_burnout")
LIST_COLUMNS = ("list_n", "list_asked", "list_yes", "list_pending", "list_expected_yes")
OPE_ESTIMATES = ("optimise_snips", "optimise_ips", "nps_snips", "nps_ips", "explore_yes")
OPE_COLUMNS = (
    "ope_n_lists", "ope_n_explored", "ope_n_logged", "ope_logged_yes",
    *(f"ope_{e}{s}" for e in OPE_ESTIMATES for s in ("", "_low", "_high")),
    "ope_optimise_n_effective", "ope_nps_n_effective", "ope_pool_p_advocate", "ope_verdict",
)  # fmt: skip
COLUMNS = (
    "as_of", "data_end", "advocate_closes", *ADVOCATE_COLUMNS, "burnout_closes",
    *BURNOUT_COLUMNS, "list_closes", *LIST_COLUMNS, "ope_closes", *OPE_COLUMNS,
)  # fmt: skip
OPE_LEVEL = 0.9  # the intervals' coverage
OPE_BOOT = 1000  # bootstrap resamples per interval
SCORED_COLUMNS = ("contact_id", "p_advocate", "p_burnout", "nps_latest")


# ---------------------------------------------------------------- time
def data_end(con: duckdb.DuckDBPyConnection) -> pd.Timestamp | None:
    """The newest event time in the files (each table's time column): what the export knows."""
    parts = [
        f'SELECT max(CAST("{col}" AS TIMESTAMP)) AS ts FROM "{name}"'
        for name, table in TABLES.items()
        for col in (table.time_column, table.fallback_time_column)
        if col
    ]
    value = con.execute(f"SELECT max(ts) FROM ({' UNION ALL '.join(parts)})").fetchall()[0][0]
    return None if value is None else pd.Timestamp(value)


def closes(as_of: date, settings: Settings) -> dict[str, date]:
    """When each block of a date's measures is complete (00:00 UTC of that day)."""
    w, h = settings.windows.response_window_days, settings.windows.burnout_horizon_days
    return {
        "advocate_closes": as_of + timedelta(days=2 * w),
        "burnout_closes": as_of + timedelta(days=h),
        "list_closes": as_of + timedelta(days=w),
        "ope_closes": as_of + timedelta(days=2 * w),
    }


def is_closed(closes_on: date, end: pd.Timestamp | None) -> bool:
    return end is not None and pd.Timestamp(closes_on) <= end


# ---------------------------------------------------------------- realised outcomes
def asks_after(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """contact_id, activity_id, t, label: each contact's first ask in [T, T + window).

    The labels of `advocate_label_rows` read at T + 2 windows, when every such ask's window
    has closed (lookback widened so the rows reach back to T); cancelled asks are left out.
    """
    w = settings.windows
    later = settings.model_copy(
        update={
            "windows": w.model_copy(update={"advocate_lookback_days": 2 * w.response_window_days})
        }
    )
    rows = advocate_label_rows(con, as_of + timedelta(days=2 * w.response_window_days), later)
    start = pd.Timestamp(as_of)
    stop = start + pd.Timedelta(days=w.response_window_days)
    inside = rows[(rows["t"] >= start) & (rows["t"] < stop)]
    first = inside.sort_values(["t", "activity_id"]).drop_duplicates("contact_id")
    return first[["contact_id", "activity_id", "t", "label"]].reset_index(drop=True)


def burnout_after(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """contact_id, label: the active advocates at T and whether they burned out in (T, T + h].

    `burnout_label_rows` read at T + h with a lookback of one horizon: its one snapshot is T.
    """
    w = settings.windows
    later = settings.model_copy(
        update={"windows": w.model_copy(update={"burnout_lookback_days": w.burnout_horizon_days})}
    )
    rows = burnout_label_rows(con, as_of + timedelta(days=w.burnout_horizon_days), later)
    return rows[rows["t"] == pd.Timestamp(as_of)][["contact_id", "label"]].reset_index(drop=True)


# ---------------------------------------------------------------- measures
def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if len(y) == 0:
        return {"auc": math.nan, "log_loss": math.nan, "ece": math.nan}
    return binary_metrics(y, p)


def advocate_measures(asks: pd.DataFrame, scored: pd.DataFrame, base_rate: float) -> dict[str, Any]:
    """Published p_advocate and the NPS rule (same rows) against the realised answers.

    Only asked contacts the date scored count (a contact created after T was not scored).
    """
    rows = asks.merge(scored, on="contact_id", how="inner", validate="one_to_one")
    y = rows["label"].to_numpy(dtype=int)
    model = _metrics(y, rows["p_advocate"].to_numpy(dtype=float))
    rule = _metrics(y, nps_heuristic(rows, ADVOCATE.nps_direction, base_rate))
    return {
        "n_asks_after": len(rows), "asks_yes": int(y.sum()),
        "auc_advocate": model["auc"], "auc_advocate_nps_rule": rule["auc"],
        "log_loss_advocate": model["log_loss"], "log_loss_advocate_nps_rule": rule["log_loss"],
        "ece_advocate": model["ece"],
    }  # fmt: skip


def burnout_measures(realised: pd.DataFrame, scored: pd.DataFrame) -> dict[str, Any]:
    """Published p_burnout of the active advocates at T against their realised burnout."""
    rows = realised.merge(scored, on="contact_id", how="inner", validate="one_to_one")
    y = rows["label"].to_numpy(dtype=int)
    m = _metrics(y, rows["p_burnout"].to_numpy(dtype=float))
    return {
        "n_advocates": len(rows), "n_burnouts": int(y.sum()),
        "auc_burnout": m["auc"], "ece_burnout": m["ece"],
    }  # fmt: skip


def list_measures(outcome: Any) -> dict[str, Any]:
    """The published list's fate (a `monitoring.lookback.ListOutcome`)."""
    return {
        "list_n": outcome.n_listed, "list_asked": outcome.asked, "list_yes": outcome.said_yes,
        "list_pending": outcome.pending, "list_expected_yes": float(outcome.expected_yes),
    }  # fmt: skip


# ---------------------------------------------------------------- off-policy evaluation
@dataclass(frozen=True)
class PolicyLists:
    """What the off-policy block compares at a date (contact ids only, no personal data)."""

    selections: pd.DataFrame  # `offpolicy.published_selections(OUT, T)`: the earlier lists
    optimise: pd.DataFrame  # contact_id, activity_type: this date's optimise rows
    nps: pd.DataFrame  # contact_id: the NPS rule's list under the same rules
    pool_p_advocate: float | None  # mean p_advocate over this date's eligible pool


def policy_lists(
    output_root: Path,
    as_of: date,
    candidates: pd.DataFrame,
    ranked: pd.DataFrame,
    features: pd.DataFrame,
    settings: Settings,
) -> PolicyLists:
    """The date's `PolicyLists`: the earlier lists under `output_root`, this date's optimise
    rows of its published list (all rows of a list without `selection`), the NPS rule's list
    (`monitoring.program.nps_rule_list`) and the eligible pool's mean p_advocate."""
    kind = "activity_type" if "activity_type" in candidates.columns else "suggested_activity"
    chosen = candidates
    if "selection" in candidates.columns:
        chosen = candidates[candidates["selection"] == "optimise"]
    optimise = pd.DataFrame(
        {"contact_id": chosen["contact_id"].astype(str), "activity_type": chosen[kind]}
    )
    nps = nps_rule_list(ranked, features, settings)[["contact_id"]]
    pool = ranked.loc[ranked["eligible"], ADVOCATE.score_column]
    return PolicyLists(
        selections=offpolicy.published_selections(output_root, as_of),
        optimise=optimise.reset_index(drop=True),
        nps=nps.reset_index(drop=True),
        pool_p_advocate=float(pool.mean()) if len(pool) else None,
    )


LOGGED_COLUMNS = (
    "as_of", "contact_id", "activity_type", "p_contact", "inclusion_probability", "said_yes",
)  # fmt: skip


def logged_asks(
    con: duckdb.DuckDBPyConnection, selections: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """The explore rows of earlier lists that were asked for their type, with their answer.

    Each list dated w: asks requested in [w, w + window) for the listed type, read at
    w + 2 windows (all settled). A row not asked (or asked for another type, or still
    pending) is left out: only asks the world made can be scored. p_contact is the published
    inclusion probability (the contact's); inclusion_probability is the pair's, p_contact x
    the share of the list's explore rows of that type (exact: the draw splits them by a fixed
    quota, policy/exploration.py).
    """
    w = timedelta(days=settings.windows.response_window_days)
    explore = selections[selections["selection"] == "explore"]
    frames = []
    for listed_on, rows in explore.groupby("as_of", sort=True):
        day = pd.Timestamp(listed_on).date()
        rows = rows.drop_duplicates("contact_id")
        got = listed_outcomes(
            con, rows[["contact_id", "activity_type"]], day, day + 2 * w, settings,
            asked_before=day + w,
        )  # fmt: skip
        share = rows["activity_type"].map(rows["activity_type"].value_counts(normalize=True))
        rows = rows.assign(
            p_contact=rows["inclusion_probability"].astype(float),
            inclusion_probability=rows["inclusion_probability"].astype(float) * share,
        ).merge(got, on="contact_id", how="left", validate="one_to_one")
        frames.append(rows[rows["asked"] & rows["said_yes"].notna()])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in LOGGED_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    return out.assign(said_yes=out["said_yes"].astype(float))[list(LOGGED_COLUMNS)]


def _ht_denominator(n_lists: int, n_target: int, ask_share: float) -> int:
    """IPS's denominator: the target's asks over the logged weeks that the world would have
    made (each week's list x the share of explore rows that were asked)."""
    return max(1, round(n_lists * n_target * ask_share))


def _columns(name: str, snips: offpolicy.OPEResult, ips: offpolicy.OPEResult) -> dict[str, Any]:
    return {
        f"ope_{name}_snips": snips.estimate, f"ope_{name}_snips_low": snips.low,
        f"ope_{name}_snips_high": snips.high, f"ope_{name}_ips": ips.estimate,
        f"ope_{name}_ips_low": ips.low, f"ope_{name}_ips_high": ips.high,
        f"ope_{name}_n_effective": round(snips.n_effective, 2),
    }  # fmt: skip


def _estimates(
    name: str, r: np.ndarray, p: np.ndarray, hit: np.ndarray, denominator: int, seed: int
) -> tuple[dict[str, Any], offpolicy.OPEResult]:
    kw = {"n_boot": OPE_BOOT, "level": OPE_LEVEL, "seed": seed}
    sn = offpolicy.snips(r, p, hit, **kw)
    ht = offpolicy.ips(r, p, hit, n_total=denominator, **kw)
    return _columns(name, sn, ht), sn


def ope_verdict(optimise: offpolicy.OPEResult, nps: offpolicy.OPEResult) -> str:
    """Plain words: each list's SNIPS verdict, then whether their intervals tell them apart."""
    words = f"optimised list: {optimise.verdict}; NPS rule's list: {nps.verdict}"
    if optimise.estimate is None or nps.estimate is None:
        return words
    if optimise.low > nps.high or nps.low > optimise.high:  # type: ignore[operator]
        better = "optimised list" if optimise.estimate > nps.estimate else "NPS rule's list"
        return f"{words}; the {better} does better (intervals apart)"
    return f"{words}; no clear difference (intervals overlap)"


def ope_measures(logged: pd.DataFrame, lists: PolicyLists, seed: int = 0) -> dict[str, Any]:
    """The `OPE_COLUMNS` of a date: SNIPS and IPS (with intervals) of this date's optimised
    rows (a logged ask counts when its contact and type are listed; pair propensities) and of
    the NPS rule's list (a person rule: a logged ask of a listed contact counts whatever its
    type; contact propensities), the Hajek exploration estimate beside the pool's mean
    p_advocate, and the verdict."""
    explore = lists.selections[lists.selections["selection"] == "explore"]
    n_lists, n_explored = int(explore["as_of"].nunique()), len(explore)
    ask_share = len(logged) / n_explored if n_explored else 0.0
    r = logged["said_yes"].to_numpy(dtype=float)
    pairs = set(zip(lists.optimise["contact_id"], lists.optimise["activity_type"], strict=True))
    keys = zip(logged["contact_id"], logged["activity_type"], strict=True)
    hit = np.array([k in pairs for k in keys], dtype=float)
    n_opt = len(pairs)
    row, opt = _estimates(
        "optimise", r, logged["inclusion_probability"].to_numpy(dtype=float), hit,
        _ht_denominator(n_lists, n_opt, ask_share), seed,
    )  # fmt: skip
    nps_ids = lists.nps["contact_id"].drop_duplicates()
    hit = logged["contact_id"].isin(set(nps_ids)).to_numpy(dtype=float)
    nps_row, nps = _estimates(
        "nps", r, logged["p_contact"].to_numpy(dtype=float), hit,
        _ht_denominator(n_lists, len(nps_ids), ask_share), seed,
    )  # fmt: skip
    pool = offpolicy.exploration_estimate(
        logged.assign(inclusion_probability=logged["p_contact"]), OPE_BOOT, OPE_LEVEL, seed
    )
    return {
        "ope_n_lists": n_lists, "ope_n_explored": n_explored, "ope_n_logged": len(logged),
        "ope_logged_yes": int(r.sum()), **row, **nps_row,
        "ope_explore_yes": pool.estimate, "ope_explore_yes_low": pool.low,
        "ope_explore_yes_high": pool.high, "ope_pool_p_advocate": lists.pool_p_advocate,
        "ope_verdict": ope_verdict(opt, nps),
    }  # fmt: skip


def ope_summary(table: pd.DataFrame) -> str:
    """One plain sentence over all dates: how many could tell, or that none could."""
    measured = table[table["ope_verdict"].notna()]
    if measured.empty:
        return "No date's logged asks had settled by the end of the data: nothing measured yet."
    told = measured[["ope_optimise_snips", "ope_nps_snips"]].notna().any(axis=1)
    most = int(pd.to_numeric(measured["ope_n_logged"]).max())
    if not told.any():
        return (
            f"Too few logged asks to tell on every measured date (n={most} at most, "
            f"{offpolicy.MIN_LOGGED} needed)."
        )
    return (
        f"{int(told.sum())} of {len(measured)} measured dates have an estimate (n={most} at most)."
    )


def _blank(columns: tuple[str, ...]) -> dict[str, Any]:
    return dict.fromkeys(columns)


def measure_date(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    scored: pd.DataFrame,
    listed: pd.DataFrame,
    settings: Settings,
    *,
    end: pd.Timestamp | None,
    base_rate: float,
    lists: PolicyLists | None = None,
) -> dict[str, Any]:
    """One backtest.csv row: the four blocks, each empty (None) until its window closed.

    `scored`: the date's published scores with `nps_latest` at T (`SCORED_COLUMNS`);
    `listed`: its published list (contact_id, p_advocate); `base_rate`: the advocate model's
    training base rate (the NPS rule's value for an unknown NPS); `lists`: what the
    off-policy block compares (no `lists`: that block stays empty).
    """
    from advocacy.monitoring.lookback import list_outcome  # H2's module (issue 12, item 2)

    when = closes(as_of, settings)
    row: dict[str, Any] = {"as_of": as_of, "data_end": end, **when}
    scored = scored[list(SCORED_COLUMNS)]
    if is_closed(when["advocate_closes"], end):
        row |= advocate_measures(asks_after(con, as_of, settings), scored, base_rate)
    else:
        row |= _blank(ADVOCATE_COLUMNS)
    if is_closed(when["burnout_closes"], end):
        row |= burnout_measures(burnout_after(con, as_of, settings), scored)
    else:
        row |= _blank(BURNOUT_COLUMNS)
    if is_closed(when["list_closes"], end):
        until = when["list_closes"]
        outcome = list_outcome(con, listed[["contact_id", "p_advocate"]], as_of, until, settings)
        row |= list_measures(outcome)
    else:
        row |= _blank(LIST_COLUMNS)
    if lists is not None and is_closed(when["ope_closes"], end):
        logged = logged_asks(con, lists.selections, settings)
        row |= ope_measures(logged, lists, seed=as_of.toordinal())
    else:
        row |= _blank(OPE_COLUMNS)
    return {c: _clean(row[c]) for c in COLUMNS}


def _clean(value: Any) -> Any:
    """NaN (a metric undefined on one class) as None: an empty cell, like an open window."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


COUNT_COLUMNS = (
    "n_asks_after", "asks_yes", "n_advocates", "n_burnouts",
    "list_n", "list_asked", "list_yes", "list_pending",
    "ope_n_lists", "ope_n_explored", "ope_n_logged", "ope_logged_yes",
)  # fmt: skip


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """backtest.csv's table: one row per date in `COLUMNS` order (None stays empty; counts
    stay whole numbers beside the empty cells)."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({c: "Int64" for c in COUNT_COLUMNS})
