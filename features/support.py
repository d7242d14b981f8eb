"""Support features of the contact's account: how much trouble lately, and what is still open.

Tickets belong to accounts, so they are computed once per (account, t) from the account's
tickets opened before t, with the state rules of `features.state`: a ticket closed at or
after t is open at t (`ticket_open_at`) and its CSAT is not yet known (`csat_at`).
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy.settings import Settings


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


def support_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Support features for every (contact_id, t) of `points` (from its account_id)."""
    n, severe = int(settings.windows.recent_days), _severe_sql(settings)
    recent = f"within_days(k.opened_at, p.t, {n})"
    is_open = "ticket_open_at(k.opened_at, k.closed_at, p.t)"
    is_severe = f"list_contains({severe}, k.priority)"
    exprs = [
        f"count(*) FILTER (WHERE {recent})",
        f"count(*) FILTER (WHERE {recent} AND {is_severe})",
        f"count(*) FILTER (WHERE {is_open})",
        f"count(*) FILTER (WHERE {is_open} AND {is_severe})",
        "avg(csat_at(k.csat, k.closed_at, p.t))",
    ]
    names = feature_names(settings)
    aggs = ", ".join(f"{e} AS {name}" for e, name in zip(exprs, names, strict=True))
    *count_names, csat_name = names
    outputs = [f"CAST(coalesce({c}, 0) AS DOUBLE) AS {c}" for c in count_names]
    outputs.append(f"CAST({csat_name} AS DOUBLE) AS {csat_name}")
    return con.sql(
        f"""
        WITH pts AS (SELECT DISTINCT contact_id, account_id, t FROM {points}),
        accounts_at AS (SELECT DISTINCT account_id, t FROM pts),
        seen AS (
            SELECT p.account_id, p.t, {aggs}
            FROM accounts_at p JOIN support_tickets k
              ON k.account_id = p.account_id AND seen_at(k.opened_at, p.t)
            GROUP BY p.account_id, p.t
        )
        SELECT p.contact_id, p.t, {", ".join(outputs)}
        FROM pts p LEFT JOIN seen USING (account_id, t)
        """
    )
