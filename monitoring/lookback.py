"""What became of earlier lists: of the people a published list named, who was asked, who said yes.

A look-back at `until` reads only rows strictly before `until` (the macros of
`features.state`), so the weekly run at T and a backtest date agree on what was known then.

Per listed contact, the first ask requested in [listed_on, until) counts; an ask known to be
cancelled at `until` (its window closed) is left out, as the labels leave them out (until then
it is pending, as every timeless answer is). That ask is, at `until`:
- a yes: completed within `windows.response_window_days` of its request (the labels.py
  meaning) and completed before `until` (a completion is final once it happened);
- a no: its response window closed before `until` without a yes (`advocate_label` = 0);
- pending: neither yet (its window is still open at `until`).
Expected yeses are the sum of the published `p_advocate` over the listed contacts who were asked.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from advocacy.features.state import register_state, timestamp_sql
from advocacy.settings import Settings

log = logging.getLogger(__name__)

LOOKBACK_WEEKS = 12
LIST_FILE = "candidates.csv"
MANIFEST_FILE = "run.json"
# candidates.csv neutralises text cells a spreadsheet would run (pipelines.outputs
# FORMULA_TRIGGERS; monitoring may not import pipelines, a unit test keeps the two equal).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ListOutcome:
    """What became of one published list, as known at `until`."""

    listed_on: date
    until: date
    n_listed: int
    asked: int  # listed contacts asked in [listed_on, until)
    said_yes: int  # of those asks, answered yes (labels.py meaning), settled before `until`
    pending: int  # asked, answer not settled before `until`
    expected_yes: float  # sum of p_advocate over the listed contacts that were asked

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO dates): counts and a sum only, no people."""
        out = asdict(self)
        out["listed_on"], out["until"] = self.listed_on.isoformat(), self.until.isoformat()
        out["expected_yes"] = round(self.expected_yes, 4)
        return out


def _judged_sql(
    listed_on: date, until: date, window_days: int, asked_before: date, typed: bool
) -> str:
    """The CTEs `asks` (first non-cancelled ask per listed contact in [listed_on,
    asked_before), of the listed type when `typed`) and `judged` (its yes / label at `until`)."""
    start, end, ask_end = (
        timestamp_sql(listed_on),
        timestamp_sql(until),
        timestamp_sql(asked_before),
    )
    w = int(window_days)
    same_type = "AND a.activity_type = l.activity_type" if typed else ""
    return f"""
        WITH asks AS (
            SELECT l.contact_id, any_value(l.p_advocate) AS p_advocate,
                   arg_min(a.status, (a.requested_at, a.activity_id)) AS status,
                   arg_min(a.completed_at, (a.requested_at, a.activity_id)) AS completed_at,
                   arg_min(a.activity_type, (a.requested_at, a.activity_id)) AS asked_type,
                   min(a.requested_at) AS requested_at
            FROM _listed l JOIN advocacy_activities a
              ON a.contact_id = l.contact_id {same_type}
            WHERE ask_made_before(a.requested_at, {ask_end})
              AND ask_status_at(a.status, a.requested_at, a.completed_at, {end}) <> 'cancelled'
              AND NOT happened_before(a.requested_at, {start})
            GROUP BY l.contact_id
        ),
        judged AS (
            SELECT *, coalesce(status = 'completed' AND happened_before(completed_at, {end})
                               AND completed_at <= requested_at + days_span({w}), false) AS yes,
                      advocate_label(status, requested_at, completed_at, {w}, {end}) AS label
            FROM asks
        )
    """


def _outcome_sql(listed_on: date, until: date, window_days: int) -> str:
    """Per list: asked, yes, pending at `until` (first non-cancelled ask per contact)."""
    return (
        _judged_sql(listed_on, until, window_days, until, typed=False)
        + """
        SELECT count(*) AS asked,
               count(*) FILTER (WHERE yes) AS said_yes,
               count(*) FILTER (WHERE NOT yes AND label IS NULL) AS pending,
               coalesce(sum(p_advocate), 0.0) AS expected_yes
        FROM judged
    """
    )


def list_outcome(
    con: duckdb.DuckDBPyConnection,
    listed: pd.DataFrame,
    listed_on: date,
    until: date,
    settings: Settings,
) -> ListOutcome:
    """The outcome at `until` of the list published on `listed_on` (`listed`: contact_id,
    p_advocate, one row per contact)."""
    if until < listed_on:
        raise ValueError(f"until {until} is before the list's date {listed_on}")
    register_state(con)
    frame = pd.DataFrame(
        {
            "contact_id": listed["contact_id"].astype(str),
            "p_advocate": pd.to_numeric(listed["p_advocate"]).astype(float),
        }
    )
    con.register("_listed", frame)
    try:
        sql = _outcome_sql(listed_on, until, settings.windows.response_window_days)
        asked, yes, pending, expected = con.execute(sql).fetchall()[0]
    finally:
        con.unregister("_listed")
    return ListOutcome(
        listed_on=listed_on, until=until, n_listed=len(frame), asked=int(asked),
        said_yes=int(yes), pending=int(pending), expected_yes=float(expected),
    )  # fmt: skip


OUTCOME_COLUMNS = ("contact_id", "asked", "asked_type", "said_yes")


def listed_outcomes(
    con: duckdb.DuckDBPyConnection,
    listed: pd.DataFrame,
    listed_on: date,
    until: date,
    settings: Settings,
    *,
    asked_before: date | None = None,
) -> pd.DataFrame:
    """Per listed contact, what `list_outcome` counts: contact_id, asked, asked_type, said_yes.

    `listed`: contact_id (one row per contact) and optionally activity_type: then only an ask
    of that type counts (an explore row asked for another type was not asked *for it*). Asks
    requested in [listed_on, asked_before) count (default `until`), judged at `until`; reading
    later than the asks' window (`until` = asked_before + one response window) settles them
    all. said_yes is True / False once settled, NA when not asked or still pending: a pending
    ask is no decision yet, so callers leave it out rather than count it as a no.
    """
    asked_before = asked_before or until
    if until < listed_on or asked_before < listed_on or asked_before > until:
        raise ValueError(f"need {listed_on} <= asked_before {asked_before} <= until {until}")
    register_state(con)
    typed = "activity_type" in listed.columns
    frame = pd.DataFrame(
        {
            "contact_id": listed["contact_id"].astype(str).to_numpy(),
            "p_advocate": 0.0,
            "activity_type": listed["activity_type"].astype(str).to_numpy() if typed else "",
        }
    )
    con.register("_listed", frame)
    try:
        sql = (
            _judged_sql(
                listed_on, until, settings.windows.response_window_days, asked_before, typed
            )
            + """
            SELECT l.contact_id, j.contact_id IS NOT NULL AS asked, j.asked_type,
                   CASE WHEN j.yes THEN true WHEN j.label IS NOT NULL THEN false END AS said_yes
            FROM _listed l LEFT JOIN judged j USING (contact_id)
        """
        )
        out = con.execute(sql).df()
    finally:
        con.unregister("_listed")
    out = frame[["contact_id"]].merge(out, on="contact_id", how="left", validate="one_to_one")
    out["asked"] = out["asked"].astype(bool)
    out["said_yes"] = out["said_yes"].astype("boolean")
    return out[list(OUTCOME_COLUMNS)]


# ---------------------------------------------------------------- published weeks
@dataclass(frozen=True)
class PublishedWeek:
    """A complete publish found in the output root: its date and folder."""

    as_of: date
    folder: Path


def published_weeks(
    output_root: Path, as_of: date, weeks: int = LOOKBACK_WEEKS
) -> list[PublishedWeek]:
    """Folders `<date>/` of the root holding candidates.csv and run.json, dated in
    [T - weeks * 7 days, T), oldest first (`latest` and half-written folders are skipped)."""
    root = Path(output_root)
    if not root.is_dir():
        return []
    oldest = as_of - timedelta(days=7 * weeks)
    found = []
    for child in root.iterdir():
        day = _iso_date(child.name)
        if day is None or not (oldest <= day < as_of) or child.is_symlink():
            continue
        if (child / LIST_FILE).is_file() and (child / MANIFEST_FILE).is_file():
            found.append(PublishedWeek(day, child))
    return sorted(found, key=lambda w: w.as_of)


def _iso_date(name: str) -> date | None:
    try:
        return date.fromisoformat(name) if len(name) == 10 else None
    except ValueError:
        return None


def read_list(folder: Path) -> pd.DataFrame:
    """contact_id and p_advocate of a published candidates.csv (its formula escape undone)."""
    frame = pd.read_csv(
        folder / LIST_FILE, encoding="utf-8-sig", usecols=["contact_id", "p_advocate"],
        dtype={"contact_id": str},
    )  # fmt: skip
    frame["contact_id"] = frame["contact_id"].map(unescape)
    return frame


def unescape(value: str) -> str:
    """A candidates.csv cell as it was before `outputs.neutralise_formula` (a leading `'`
    before a formula trigger dropped)."""
    if value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def earlier_lists(
    output_root: Path,
    as_of: date,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    weeks: int = LOOKBACK_WEEKS,
) -> list[ListOutcome]:
    """Each list published in the root in the `weeks` weeks before T, with its outcome at T."""
    found = published_weeks(output_root, as_of, weeks)
    log.info("look-back: %d earlier list(s) under %s", len(found), output_root)
    return [list_outcome(con, read_list(w.folder), w.as_of, as_of, settings) for w in found]
