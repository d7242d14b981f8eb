"""Support features of the contact's account: how much trouble lately, and what is still open.

Tickets belong to accounts, so the stream is per account: every opening and closing before
T (state.ticket_deltas) with running totals. Open tickets at t = openings before t minus
closings before t, which is exactly `ticket_open_at` counted at t; mean CSAT uses only the
tickets closed before t (`csat_known_at`).
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy_settings import Settings
from features.engine import cached_table, lookup_at_bounds
from features.state import as_of_date, timestamp_sql


def feature_names(settings: Settings) -> list[str]:
    n = settings.windows.recent_days
    return [
        f"support_tickets_{n}d",
        f"support_severe_tickets_{n}d",
        "support_open_tickets",
        "support_open_severe_tickets",
        "support_csat_mean",
    ]


def _severe_sql(settings: Settings) -> str:
    """SQL list of the priorities that count as severe: those that block an ask."""
    return "[" + ", ".join(f"'{p}'" for p in settings.eligibility.blocking_ticket_priorities) + "]"


def ticket_stream(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> str:
    """Temp table: per (account, ts) running counts of openings, closings and CSAT."""
    severe = _severe_sql(settings)
    sql = f"""
        WITH d AS (
            SELECT account_id, ts, sum(opened) AS opened, sum(closed) AS closed,
                   sum(opened) FILTER (WHERE list_contains({severe}, priority)) AS sev_opened,
                   sum(closed) FILTER (WHERE list_contains({severe}, priority)) AS sev_closed,
                   sum(csat) AS csat_sum, count(csat) AS csat_n
            FROM ticket_deltas({timestamp_sql(as_of)}) GROUP BY account_id, ts
        )
        SELECT account_id, ts,
               sum(opened) OVER a AS cum_opened, sum(closed) OVER a AS cum_closed,
               coalesce(sum(sev_opened) OVER a, 0) AS cum_sev_opened,
               coalesce(sum(sev_closed) OVER a, 0) AS cum_sev_closed,
               sum(csat_sum) OVER a AS cum_csat_sum, sum(csat_n) OVER a AS cum_csat_n
        FROM d WINDOW a AS (PARTITION BY account_id ORDER BY ts ROWS UNBOUNDED PRECEDING)
    """
    key = f"tickets|{as_of_date(as_of)}|{severe}"
    return cached_table(con, "ticket_stream", key, sql)


def support_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Support features for every (contact_id, t) of `points` (from its account_id)."""
    stream = ticket_stream(con, as_of, settings)
    n = int(settings.windows.recent_days)
    now = ("cum_opened", "cum_closed", "cum_sev_opened", "cum_sev_closed")
    looked_up = lookup_at_bounds(
        points,
        "account_id",
        stream,
        "ts",
        {"t": "{t}", "back": f"{{t}} - days_span({n})"},
        {"t": (*now, "cum_csat_sum", "cum_csat_n"), "back": ("cum_opened", "cum_sev_opened")},
    )
    exprs = [
        "coalesce(cum_opened__t, 0) - coalesce(cum_opened__back, 0)",
        "coalesce(cum_sev_opened__t, 0) - coalesce(cum_sev_opened__back, 0)",
        "coalesce(cum_opened__t, 0) - coalesce(cum_closed__t, 0)",
        "coalesce(cum_sev_opened__t, 0) - coalesce(cum_sev_closed__t, 0)",
        "CASE WHEN cum_csat_n__t > 0 THEN cum_csat_sum__t / cum_csat_n__t END",
    ]
    names = feature_names(settings)
    select = ", ".join(f"CAST({e} AS DOUBLE) AS {n}" for e, n in zip(exprs, names, strict=True))
    return con.sql(
        f"SELECT p.contact_id, p.t, {select} FROM (SELECT DISTINCT contact_id, account_id, t "
        f"FROM {points}) p LEFT JOIN ({looked_up}) s USING (account_id, t)"
    )
