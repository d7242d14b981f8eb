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
- the list: `monitoring.lookback.list_outcome` over [T, T + response window); closed then.

The files' end is the newest event time in them (`data_end`): a block whose window closes
after it gets empty cells (None), never a partial number.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from advocacy.data_contracts.tables import TABLES
from advocacy.features.labels import advocate_label_rows, burnout_label_rows
from advocacy.models.baselines import nps_heuristic
from advocacy.models.evaluate import binary_metrics
from advocacy.models.targets import ADVOCATE
from advocacy.settings import Settings

log = logging.getLogger(__name__)

ADVOCATE_COLUMNS = (
    "n_asks_after", "asks_yes", "auc_advocate", "auc_advocate_nps_rule", "log_loss_advocate",
    "log_loss_advocate_nps_rule", "ece_advocate",
)  # fmt: skip
BURNOUT_COLUMNS = ("n_advocates", "n_burnouts", "auc_burnout", "ece_burnout")
LIST_COLUMNS = ("list_n", "list_asked", "list_yes", "list_pending", "list_expected_yes")
COLUMNS = (
    "as_of", "data_end", "advocate_closes", *ADVOCATE_COLUMNS, "burnout_closes",
    *BURNOUT_COLUMNS, "list_closes", *LIST_COLUMNS,
)  # fmt: skip
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
) -> dict[str, Any]:
    """One backtest.csv row: the three blocks, each empty (None) until its window closed.

    `scored`: the date's published scores with `nps_latest` at T (`SCORED_COLUMNS`);
    `listed`: its published list (contact_id, p_advocate); `base_rate`: the advocate model's
    training base rate (the NPS rule's value for an unknown NPS).
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
    return {c: _clean(row[c]) for c in COLUMNS}


def _clean(value: Any) -> Any:
    """NaN (a metric undefined on one class) as None: an empty cell, like an open window."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


COUNT_COLUMNS = (
    "n_asks_after", "asks_yes", "n_advocates", "n_burnouts",
    "list_n", "list_asked", "list_yes", "list_pending",
)  # fmt: skip


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """backtest.csv's table: one row per date in `COLUMNS` order (None stays empty; counts
    stay whole numbers beside the empty cells)."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({c: "Int64" for c in COUNT_COLUMNS})
