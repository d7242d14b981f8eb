"""Freshness at as_of: is each table's newest data recent enough, and can a label window close?

Part of the contract report (`validate_folder` with an `as_of`), so `run`, `train` and `score`
refuse stale inputs before any feature is built, with one line per problem:

- staleness: a table's newest row before as_of (by its time column, `tables.py`) may be at most
  `validation.max_staleness_days[table]` days old; a table whose rows all lie at or after as_of
  fails too (as_of is before the data begins);
- label window: p_advocate needs at least one ask (not cancelled) inside the advocate lookback
  whose response window closed before as_of; without one, as_of lies so far past the data (or
  so close to its start) that no training row can exist.

The facts are collected from the same typed frames the GX suites read (`TimeScan.update`),
or, for a table whose checks run in DuckDB, as aggregates of that same one query
(`TimeScan.sql_facts`, `add_facts`), so a 100M-row usage export is not scanned twice. Empty
tables and tables without their time column are left to the suites ("at least one row",
"required column present").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd

from advocacy.data_contracts.report import Check, CheckFailure, TableResult
from advocacy.data_contracts.tables import ADVOCACY_ACTIVITIES, Table
from advocacy.settings import Settings

STALENESS_SETTING = "validation.max_staleness_days"
LABEL_TABLE = ADVOCACY_ACTIVITIES.name


def staleness_rule(days: int) -> str:
    return f"newest row before as_of at most {days} days old"


def label_window_rule(settings: Settings) -> str:
    w = settings.windows
    return (
        f"an ask whose {w.response_window_days}-day response window closed "
        f"within the {w.advocate_lookback_days} days before as_of"
    )


def _shown(ts: pd.Timestamp | None) -> str:
    if ts is None:
        return "none"
    if ts == ts.normalize():
        return ts.date().isoformat()
    return ts.isoformat(sep=" ", timespec="seconds")


def _days(delta: pd.Timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:.0f}" if float(days).is_integer() else f"{days:.1f}"


def _max(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    return b if a is None else a if b is None else min(a, b)


def _stamp(value: object) -> pd.Timestamp | None:
    return None if pd.isna(value) else pd.Timestamp(value)


@dataclass
class TimeScan:
    """Running facts about one table's event times, fed batch by batch."""

    table: Table
    as_of: date
    response_window_days: int
    advocate_lookback_days: int
    rows: int = 0
    rows_before: int = 0
    newest_before: pd.Timestamp | None = None
    oldest: pd.Timestamp | None = None
    has_time_column: bool = True
    # p_advocate label window (advocacy_activities only)
    asks_before: int = 0
    asks_in_lookback: int = 0
    closed_asks: int = 0
    newest_ask: pd.Timestamp | None = None

    @classmethod
    def for_table(cls, table: Table, as_of: date, settings: Settings) -> TimeScan:
        w = settings.windows
        return cls(table, as_of, w.response_window_days, w.advocate_lookback_days)

    @property
    def t0(self) -> pd.Timestamp:
        """00:00 UTC of as_of (naive, like the typed frames)."""
        return pd.Timestamp(self.as_of)

    def update(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        time_column, fallback = self.table.time_column, self.table.fallback_time_column
        if time_column is None or time_column not in frame.columns:
            self.has_time_column = False
            return
        ts = pd.to_datetime(frame[time_column])
        if fallback and fallback in frame.columns:
            ts = ts.fillna(pd.to_datetime(frame[fallback]))
        before = ts[ts < self.t0]
        self.rows_before += len(before)
        self.newest_before = _max(self.newest_before, _stamp(before.max()))
        self.oldest = _min(self.oldest, _stamp(ts.min()))
        if self.table.name == LABEL_TABLE and {"requested_at", "status"} <= set(frame.columns):
            self._update_asks(frame)

    def sql_facts(self, columns: Collection[str]) -> dict[str, str]:
        """The facts `update` gathers, as DuckDB aggregates over the typed check frame.

        Empty when the time column is missing (`add_facts` then records that).
        """
        time_column, fallback = self.table.time_column, self.table.fallback_time_column
        if time_column is None or time_column not in columns:
            return {}
        ts = f'CAST("{time_column}" AS TIMESTAMP)'
        if fallback and fallback in columns:
            ts = f'coalesce({ts}, CAST("{fallback}" AS TIMESTAMP))'
        t0 = f"TIMESTAMP '{self.as_of.isoformat()}'"
        facts = {
            "rows_before": f"count(*) FILTER (WHERE {ts} < {t0})",
            "newest_before": f"max({ts}) FILTER (WHERE {ts} < {t0})",
            "oldest": f"min({ts})",
        }
        if self.table.name == LABEL_TABLE and {"requested_at", "status"} <= set(columns):
            ask = (
                "requested_at IS NOT NULL AND status IS DISTINCT FROM 'cancelled' "
                f"AND requested_at < {t0}"
            )
            lookback_days, window_days = self.advocate_lookback_days, self.response_window_days
            lookback = f"{ask} AND requested_at >= {t0} - INTERVAL {lookback_days} DAY"
            closed = f"{lookback} AND requested_at + INTERVAL {window_days} DAY < {t0}"
            facts |= {
                "asks_before": f"count(*) FILTER (WHERE {ask})",
                "asks_in_lookback": f"count(*) FILTER (WHERE {lookback})",
                "closed_asks": f"count(*) FILTER (WHERE {closed})",
                "newest_ask": f"max(requested_at) FILTER (WHERE {ask})",
            }
        return facts

    def add_facts(self, rows: int, facts: Mapping[str, object]) -> None:
        """Fold the values of `sql_facts` (and the row count) into the scan."""
        self.rows += rows
        if not facts:
            self.has_time_column = False
            return
        self.rows_before += int(facts["rows_before"] or 0)  # type: ignore[call-overload]
        self.newest_before = _max(self.newest_before, _stamp(facts["newest_before"]))
        self.oldest = _min(self.oldest, _stamp(facts["oldest"]))
        if "asks_before" in facts:
            for name in ("asks_before", "asks_in_lookback", "closed_asks"):
                setattr(self, name, getattr(self, name) + int(facts[name] or 0))  # type: ignore[call-overload]
            self.newest_ask = _max(self.newest_ask, _stamp(facts["newest_ask"]))

    def _update_asks(self, frame: pd.DataFrame) -> None:
        """Asks as features/labels.py counts them: requested_at set, not cancelled."""
        requested = pd.to_datetime(frame["requested_at"])
        asks = requested[requested.notna() & (frame["status"] != "cancelled").to_numpy()]
        asks = asks[asks < self.t0]
        in_lookback = asks[asks >= self.t0 - pd.Timedelta(days=self.advocate_lookback_days)]
        closed = in_lookback[in_lookback + pd.Timedelta(days=self.response_window_days) < self.t0]
        self.asks_before += len(asks)
        self.asks_in_lookback += len(in_lookback)
        self.closed_asks += len(closed)
        self.newest_ask = _max(self.newest_ask, _stamp(asks.max()))


def freshness_checks(
    scan: TimeScan, settings: Settings
) -> tuple[list[Check], list[CheckFailure], list[tuple[Check, str]]]:
    """The checks that ran, their failures, and the ones skipped with why."""
    checks: list[Check] = []
    failures: list[CheckFailure] = []
    skipped: list[tuple[Check, str]] = []
    table, column = scan.table.name, scan.table.time_column
    limit = settings.validation.max_staleness_days.get(table)
    rules: list[tuple[Check, Callable[[], str | None]]] = []
    if limit is not None and column:
        rules.append((Check(column, staleness_rule(limit)), lambda: _staleness(scan, limit)))
    if table == LABEL_TABLE:
        check = Check("requested_at", label_window_rule(settings))
        rules.append((check, lambda: _label_window(scan, settings)))
    why = None
    if not scan.has_time_column:
        why = f"column {column} missing"
    elif scan.rows == 0:
        why = "no rows"
    elif scan.oldest is None:
        why = f"no valid {column}"
    if why:
        return [], [], [(check, why) for check, _ in rules]
    for check, problem in rules:
        checks.append(check)
        detail = problem()
        if detail:
            failures.append(CheckFailure(table, check.column, check.rule, 0, detail=detail))
    return checks, failures, skipped


def _staleness(scan: TimeScan, limit: int) -> str | None:
    table, column, T = scan.table.name, scan.table.time_column, scan.as_of.isoformat()
    setting = f"{STALENESS_SETTING}.{table}"
    if scan.newest_before is None:
        return (
            f"no {column} before as_of {T}: the data begins {_shown(scan.oldest)} "
            f"(as_of is before the data; allowed age {limit} days, {setting})"
        )
    age = scan.t0 - scan.newest_before
    if age <= pd.Timedelta(days=limit):
        return None
    return (
        f"newest {column} before as_of {T} is {_shown(scan.newest_before)}, "
        f"{_days(age)} days old; allowed {limit} days ({setting})"
    )


def _label_window(scan: TimeScan, settings: Settings) -> str | None:
    if scan.closed_asks:
        return None
    w, T = settings.windows, scan.as_of.isoformat()
    window, lookback = w.response_window_days, w.advocate_lookback_days
    if scan.asks_before == 0:
        return (
            f"no ask (requested_at set, not cancelled) before as_of {T}: "
            "p_advocate has no training rows"
        )
    if scan.asks_in_lookback == 0:
        return (
            f"newest ask before as_of {T} is {_shown(scan.newest_ask)}, older than the "
            f"{lookback}-day lookback: as_of is too far past the data for any p_advocate label "
            "(windows.advocate_lookback_days)"
        )
    opens = (scan.t0 - pd.Timedelta(days=window)).date().isoformat()
    return (
        f"all {scan.asks_in_lookback} asks of the {lookback} days before as_of {T} were made "
        f"on or after {opens}: their {window}-day response windows are still open "
        "(windows.response_window_days)"
    )


def with_freshness(result: TableResult, scan: TimeScan, settings: Settings) -> TableResult:
    """The table result with the freshness checks, failures and skips added."""
    checks, failures, skipped = freshness_checks(scan, settings)
    return dataclasses.replace(
        result,
        checks=[*result.checks, *checks],
        failures=[*result.failures, *failures],
        skipped=[*result.skipped, *skipped],
    )
