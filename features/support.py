"""Support features of the contact's account: how much trouble lately, and what is still open.

Tickets belong to accounts, so they are computed once per (account, t) from the account's
tickets opened before t, with the state rules of `features.state`: a ticket closed at or
after t is open at t (`ticket_open_at`) and its CSAT is not yet known (`csat_at`).
"Severe" is part of the features' definition (`SEVERE_PRIORITIES`); which open tickets block
an ask is policy (`eligibility.blocking_ticket_priorities`, read by features/facts.py), so
editing the policy never changes a model input.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.spec import Feature, feature, select_sql
from advocacy.settings import Settings

RECENT_DAYS = 90  # "recent" tickets: opened in the 90 days before t
SEVERE_PRIORITIES = ("high", "urgent")

_f = partial(feature, "support")
FEATURES: tuple[Feature, ...] = (
    _f(
        f"support_tickets_{RECENT_DAYS}d",
        "coalesce(tickets_recent, 0)",
        "support_volume",
        f"account tickets opened, {RECENT_DAYS} days",
    ),
    _f(
        f"support_severe_tickets_{RECENT_DAYS}d",
        "coalesce(severe_recent, 0)",
        "support_volume",
        f"account high/urgent tickets opened in the last {RECENT_DAYS} days",
    ),
    _f(
        "support_open_tickets",
        "coalesce(open_now, 0)",
        "support_open",
        "account tickets open at t",
    ),
    _f(
        "support_open_severe_tickets",
        "coalesce(open_severe, 0)",
        "support_open",
        "account high/urgent tickets open at t",
    ),
    _f(
        "support_csat_mean",
        "csat_mean",
        "support_csat",
        "mean CSAT (1-5) of the account's tickets closed before t",
    ),
)


def _aggregates() -> str:
    """Per (account, t): the ticket counts and mean CSAT the formulas read."""
    severe = "[" + ", ".join(f"'{p}'" for p in SEVERE_PRIORITIES) + "]"
    recent = f"within_days(k.opened_at, p.t, {RECENT_DAYS})"
    is_open = "ticket_open_at(k.opened_at, k.closed_at, p.t)"
    is_severe = f"list_contains({severe}, k.priority)"
    return ", ".join(
        [
            f"count(*) FILTER (WHERE {recent}) AS tickets_recent",
            f"count(*) FILTER (WHERE {recent} AND {is_severe}) AS severe_recent",
            f"count(*) FILTER (WHERE {is_open}) AS open_now",
            f"count(*) FILTER (WHERE {is_open} AND {is_severe}) AS open_severe",
            "avg(csat_at(k.csat, k.closed_at, p.t)) AS csat_mean",
        ]
    )


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Support features for every (contact_id, t) of `points` (from its account_id)."""
    return con.sql(
        f"""
        WITH pts AS (SELECT DISTINCT contact_id, account_id, t FROM {points}),
        accounts_at AS (SELECT DISTINCT account_id, t FROM pts),
        seen AS (
            SELECT p.account_id, p.t, {_aggregates()}
            FROM accounts_at p JOIN support_tickets k
              ON k.account_id = p.account_id AND seen_at(k.opened_at, p.t)
            GROUP BY p.account_id, p.t
        )
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM pts p LEFT JOIN seen USING (account_id, t)
        """
    )
