"""Facts about the world at T that are not model features.

The eligibility rules (policy/) read `eligibility_facts`; the list shows `contact_details`;
the suggested activity (policy/activity.py) learns from `ask_history`; a refusal to train
says why from `advocate_rows_facts` / `burnout_rows_facts`. Every fact is seen strictly
before T, with the state rules of `features.state`, like the features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from advocacy.features.build import scoring_population_sql
from advocacy.features.labels import advocate_label_rows, unprompted_acts
from advocacy.features.state import register_state, timestamp_sql
from advocacy.settings import Settings

FACT_COLUMNS = (
    "contact_id",
    "do_not_contact",
    "opted_out",
    "asks_recent",
    "asks_90d",
    "asks_365d",
    "asks_pending",
    "latest_nps",
    "blocking_tickets",
)


@dataclass(frozen=True)
class AskHistory:
    """The evidence for the suggested activity, as seen at T.

    decided_asks: contact_id, persona, activity_type, label (asks whose outcome is known at T).
    unprompted:   contact_id, activity_type (unprompted acts completed before T).
    """

    decided_asks: pd.DataFrame
    unprompted: pd.DataFrame


def eligibility_facts(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> pd.DataFrame:
    """Per scoring contact, the facts the eligibility rules read, as seen at T.

    `asks_90d` / `asks_365d` count asks made in the 90 / 365 days before T (the limits
    `eligibility.max_asks_90_days` / `max_asks_365_days`; the cooldown is `asks_recent`).
    `asks_pending` counts asks open in the files at T (`ask_open_in_files_at`): a decline
    the export holds is the CRM's answer at T, so it does not show as pending here (unlike
    the features, which wait for the response window; features.state explains why).
    `blocking_tickets` counts the account's open tickets of the policy's
    `eligibility.blocking_ticket_priorities` (the only reader of that setting; the support
    features count "severe" by their own definition, features.support.SEVERE_PRIORITIES).
    """
    register_state(con)
    T = timestamp_sql(as_of)
    e = settings.eligibility
    blocking = _sql_list(e.blocking_ticket_priorities)
    frame = con.sql(
        f"""
        WITH pop AS ({scoring_population_sql(as_of)}),
        asks AS (
            SELECT contact_id,
                   count(*) FILTER (WHERE asked_within(requested_at, {T}, {int(e.recent_ask_days)}))
                       AS asks_recent,
                   count(*) FILTER (WHERE asked_within(requested_at, {T}, 90)) AS asks_90d,
                   count(*) FILTER (WHERE asked_within(requested_at, {T}, 365)) AS asks_365d,
                   count(*) FILTER (WHERE ask_open_in_files_at(requested_at, status,
                                                               completed_at, {T}))
                       AS asks_pending
            FROM advocacy_activities WHERE ask_made_before(requested_at, {T}) GROUP BY contact_id
        ),
        nps AS (
            SELECT contact_id, arg_max(score, (responded_at, response_id)) AS latest_nps
            FROM nps_responses WHERE seen_at(responded_at, {T}) GROUP BY contact_id
        ),
        tickets AS (
            SELECT account_id, count(*) AS blocking_tickets FROM support_tickets
            WHERE ticket_open_at(opened_at, closed_at, {T}) AND list_contains({blocking}, priority)
            GROUP BY account_id
        )
        SELECT p.contact_id, CAST(c.do_not_contact AS BOOLEAN) AS do_not_contact,
               opted_out_before(c.advocacy_opt_out_at, {T}) AS opted_out,
               coalesce(asks.asks_recent, 0) AS asks_recent,
               coalesce(asks.asks_90d, 0) AS asks_90d,
               coalesce(asks.asks_365d, 0) AS asks_365d,
               coalesce(asks.asks_pending, 0) AS asks_pending,
               CAST(nps.latest_nps AS DOUBLE) AS latest_nps,
               coalesce(tickets.blocking_tickets, 0) AS blocking_tickets
        FROM pop p JOIN contacts c USING (contact_id)
        LEFT JOIN asks USING (contact_id) LEFT JOIN nps USING (contact_id)
        LEFT JOIN tickets ON tickets.account_id = p.account_id
        ORDER BY p.contact_id
        """
    ).df()
    for col in ("asks_recent", "asks_90d", "asks_365d", "asks_pending", "blocking_tickets"):
        frame[col] = frame[col].astype("int64")
    frame["contact_id"] = frame["contact_id"].astype("str")
    return frame[list(FACT_COLUMNS)]


def _sql_list(values: tuple[str, ...]) -> str:
    """A DuckDB list literal of text values: ['high', 'urgent']."""
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def contact_details(con: duckdb.DuckDBPyConnection, contact_ids: list[str]) -> pd.DataFrame:
    """Names, titles and account facts for the people on the list (display only)."""
    ids = pd.DataFrame({"contact_id": contact_ids})
    con.register("_shortlist_ids", ids)
    try:
        return con.execute(
            """
            SELECT c.contact_id, c.full_name, c.email, c.title, c.persona,
                   a.name AS account_name, a.segment, a.industry
            FROM _shortlist_ids i
            JOIN contacts c USING (contact_id)
            JOIN accounts a ON a.account_id = c.account_id
            """
        ).df()
    finally:
        con.unregister("_shortlist_ids")


def ask_history(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> AskHistory:
    """The evidence `suggest_activity` needs, as seen at T.

    Decided asks are exactly the p_advocate label rows (outcome known at T, cancelled left
    out), so the suggestion and the model agree on what counted as a yes.
    """
    asks = advocate_label_rows(con, as_of, settings)
    personas = con.execute("SELECT contact_id, persona FROM contacts").df()
    decided = asks.merge(personas, on="contact_id", how="left")[
        ["contact_id", "persona", "activity_type", "label"]
    ]
    return AskHistory(decided_asks=decided, unprompted=unprompted_acts(con, as_of))


@dataclass(frozen=True)
class TrainingRowsFacts:
    """What the data before as_of holds for one target's label rows (to say why there are none).

    events: asks not cancelled (advocate) / completed activities (burnout) before as_of;
    in_lookback: those inside the target's lookback; closed: those whose label window closed
    before as_of (advocate: the response window; burnout: completed before the newest snapshot).
    """

    target: str
    as_of: date
    data_begins: pd.Timestamp | None
    events: int
    in_lookback: int
    closed: int
    newest_event: pd.Timestamp | None


def advocate_rows_facts(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> TrainingRowsFacts:
    """Facts behind the p_advocate rows: asks, those in the lookback, those with a closed window."""
    w, T = settings.windows, timestamp_sql(as_of)
    ask = f"requested_at IS NOT NULL AND status <> 'cancelled' AND requested_at < {T}"
    lookback = f"{ask} AND requested_at >= {T} - days_span({int(w.advocate_lookback_days)})"
    label = f"advocate_label(status, requested_at, completed_at, {w.response_window_days}, {T})"
    counts = (
        f"SELECT count(*) FILTER (WHERE {ask}), count(*) FILTER (WHERE {lookback}), "
        f"count(*) FILTER (WHERE {lookback} AND {label} IS NOT NULL), "
        f"max(requested_at) FILTER (WHERE {ask}) FROM advocacy_activities"
    )
    return _rows_facts(con, as_of, "advocate", counts)


def burnout_rows_facts(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings
) -> TrainingRowsFacts:
    """Facts behind the p_burnout rows: completed activities, those before the newest snapshot."""
    T = timestamp_sql(as_of)
    done = f"activity_completed_before(status, completed_at, {T})"
    newest_snapshot = f"{T} - days_span({int(settings.windows.burnout_horizon_days)})"
    counts = (
        f"SELECT count(*) FILTER (WHERE {done}), count(*) FILTER (WHERE {done}), "
        f"count(*) FILTER (WHERE {done} AND completed_at < {newest_snapshot}), "
        f"max(completed_at) FILTER (WHERE {done}) FROM advocacy_activities"
    )
    return _rows_facts(con, as_of, "burnout", counts)


def _rows_facts(
    con: duckdb.DuckDBPyConnection, as_of: date, target: str, counts_sql: str
) -> TrainingRowsFacts:
    """Run a target's counts (events, in lookback, closed, newest) and find where data begins."""
    register_state(con)
    events, in_lookback, closed, newest = con.execute(counts_sql).fetchall()[0]
    begins = con.execute(
        "SELECT least((SELECT min(CAST(created_at AS TIMESTAMP)) FROM accounts), "
        "(SELECT min(CAST(created_at AS TIMESTAMP)) FROM contacts), "
        "(SELECT min(coalesce(requested_at, completed_at)) FROM advocacy_activities))"
    ).fetchall()[0][0]
    return TrainingRowsFacts(
        target=target,
        as_of=as_of,
        data_begins=_timestamp_or_none(begins),
        events=int(events or 0),
        in_lookback=int(in_lookback or 0),
        closed=int(closed or 0),
        newest_event=_timestamp_or_none(newest),
    )


def _timestamp_or_none(value: object) -> pd.Timestamp | None:
    return pd.Timestamp(value) if value is not None else None
