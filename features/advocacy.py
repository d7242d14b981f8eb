"""Advocacy history: how often the contact was asked, how they answered, and when.

These are the ask-fatigue signals. The stream is state.advocacy_deltas: every ask (at
requested_at) and every completion (at completed_at) before T, with running totals per
contact. Counts "in the last n days" are by the event's own time: asks, declines and
no-responses by requested_at (declined/no_response carry no time of their own), completions
by completed_at. Pending at t = asks before t minus their completions before t, which is
`ask_pending_at` counted at t.
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy_settings import Settings
from features.engine import cached_table, lookup_at_bounds
from features.state import as_of_date, timestamp_sql

RUNNING = ("asked", "declined", "no_response", "completed_ask", "unprompted")


def feature_names(settings: Settings) -> list[str]:
    n = settings.windows.recent_days
    return [
        "adv_asks",
        f"adv_asks_{n}d",
        "adv_completions",
        f"adv_completions_{n}d",
        "adv_declines",
        f"adv_declines_{n}d",
        "adv_no_responses",
        f"adv_no_responses_{n}d",
        "adv_pending",
        "adv_acceptance_rate",
        "adv_days_since_last_ask",
        "adv_days_since_last_completion",
        "adv_unprompted",
        "adv_activity_types_completed",
    ]


def advocacy_stream(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table: per (contact, ts) running counts of asks, outcomes and completions."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in (*RUNNING, "pending_from", "pending_until"))
    cums = ", ".join(f"sum({c}) OVER o AS cum_{c}" for c in RUNNING)
    sql = f"""
        WITH e AS (
            SELECT *, CASE WHEN completed = 1 AND row_number() OVER (
                          PARTITION BY contact_id, activity_type, completed ORDER BY ts) = 1
                      THEN 1 ELSE 0 END AS new_type
            FROM advocacy_deltas({timestamp_sql(as_of)})
        ), d AS (
            SELECT contact_id, ts, {sums}, sum(new_type) AS new_type,
                   max(ts) FILTER (WHERE asked = 1) AS last_ask,
                   max(ts) FILTER (WHERE completed = 1) AS last_completion
            FROM e GROUP BY contact_id, ts
        )
        SELECT contact_id, ts, {cums},
               sum(pending_from - pending_until) OVER o AS pending,
               sum(new_type) OVER o AS cum_types,
               max(last_ask) OVER o AS last_ask, max(last_completion) OVER o AS last_completion
        FROM d WINDOW o AS (PARTITION BY contact_id ORDER BY ts ROWS UNBOUNDED PRECEDING)
    """
    return cached_table(con, "advocacy_stream", f"advocacy|{as_of_date(as_of)}", sql)


def advocacy_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Advocacy-history features for every (contact_id, t) of the `points` table."""
    stream = advocacy_stream(con, as_of)
    n = int(settings.windows.recent_days)
    windowed = ("cum_asked", "cum_completed_ask", "cum_declined", "cum_no_response")
    now = (*windowed, "pending", "last_ask", "last_completion", "cum_unprompted", "cum_types")
    looked_up = lookup_at_bounds(
        points,
        "contact_id",
        stream,
        "ts",
        {"t": "{t}", "back": f"{{t}} - days_span({n})"},
        {"t": now, "back": windowed},
    )
    exprs: list[str] = []
    for col in windowed:
        exprs += [f"coalesce({col}__t, 0)", f"coalesce({col}__t, 0) - coalesce({col}__back, 0)"]
    decided = "cum_completed_ask__t + cum_declined__t + cum_no_response__t"
    exprs += [
        "coalesce(pending__t, 0)",
        f"CASE WHEN {decided} > 0 THEN cum_completed_ask__t / ({decided}) END",
        "days_between(last_ask__t, t)",
        "days_between(last_completion__t, t)",
        "coalesce(cum_unprompted__t, 0)",
        "coalesce(cum_types__t, 0)",
    ]
    select = ", ".join(
        f"CAST({e} AS DOUBLE) AS {n}" for e, n in zip(exprs, feature_names(settings), strict=True)
    )
    return con.sql(f"SELECT contact_id, t, {select} FROM ({looked_up})")
