"""Account-level signals: how the contact's colleagues at the same account answer.

Advocacy is partly a culture of the account (docs/synthetic-data.md): colleagues who say yes,
or who are detractors, say something about this contact. Every value counts the *other*
contacts of the account, strictly before t: the account's totals per (account, t) minus the
contact's own part, so the work is one pass over the account's asks and answers per
(account, t), never contacts x contacts.

Asks and completions follow the ask rules of `features.state` (a completion at or after t is
not known at t); the smoothed acceptance reads only asks whose response window closed before
t, as the contact's own (`features.advocacy.outcome_known_sql`); the latest NPS of each
colleague is the arg-max by (responded_at, response_id), as in `features.nps`.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.advocacy import (
    ACCEPTANCE_PRIOR,
    OUTCOME_WINDOW_DAYS,
    PRIOR_WEIGHT,
    outcome_known_sql,
    smoothed_sql,
)
from advocacy.features.nps import DETRACTOR_MAX
from advocacy.features.spec import Feature, feature, select_sql
from advocacy.settings import Settings

DONE = "activity_completed_before(a.status, a.completed_at, q.t)"
OUTCOME = outcome_known_sql("q.t")

_f = partial(feature, "peers")
FEATURES: tuple[Feature, ...] = (
    _f("peer_asks", "coalesce(asks, 0)", "peer_record", "asks made before t to colleagues"),
    _f(
        "peer_completions",
        "coalesce(done, 0)",
        "peer_record",
        "colleagues' asks completed before t",
    ),
    _f(
        "peer_acceptance_smoothed",
        smoothed_sql("closed_yes", "closed"),
        "peer_record",
        f"colleagues' (yes + {PRIOR_WEIGHT:g} x {ACCEPTANCE_PRIOR:g}) / (asks + "
        f"{PRIOR_WEIGHT:g}) over their asks whose {OUTCOME_WINDOW_DAYS}-day response window "
        "closed before t",
    ),
    _f(
        "peer_nps_answered",
        "coalesce(answered, 0)",
        "peer_detractors",
        "colleagues with an NPS answer before t",
    ),
    _f(
        "peer_detractor_share",
        "CASE WHEN answered > 0 THEN detractors / answered END",
        "peer_detractors",
        "share of those colleagues whose latest NPS is a detractor score; NaN if none",
    ),
)


def _per_contact_sql(points: str) -> str:
    """CTEs: per (account, t, contact of the account) its asks, completions, latest NPS."""
    order = "(r.responded_at, r.response_id)"
    return f"""
        pts AS (SELECT DISTINCT contact_id, account_id, t FROM {points}),
        acct AS (SELECT DISTINCT account_id, t AS t FROM pts),
        asks AS (
            SELECT q.account_id, q.t, a.contact_id, count(*) AS asks,
                   count(*) FILTER (WHERE {DONE}) AS done,
                   count(*) FILTER (WHERE {OUTCOME} IS NOT NULL) AS closed,
                   count(*) FILTER (WHERE {OUTCOME} = 1) AS closed_yes
            FROM acct q
            JOIN contacts c ON c.account_id = q.account_id
            JOIN advocacy_activities a
              ON a.contact_id = c.contact_id AND ask_made_before(a.requested_at, q.t)
            GROUP BY q.account_id, q.t, a.contact_id
        ),
        latest AS (
            SELECT q.account_id, q.t, r.contact_id,
                   CAST(arg_max(r.score, {order}) <= {DETRACTOR_MAX} AS INTEGER) AS detractor
            FROM acct q
            JOIN contacts c ON c.account_id = q.account_id
            JOIN nps_responses r ON r.contact_id = c.contact_id AND seen_at(r.responded_at, q.t)
            GROUP BY q.account_id, q.t, r.contact_id
        )
    """


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Colleague features for every (contact_id, t) of `points` (from its account_id)."""
    return con.sql(
        f"""
        WITH {_per_contact_sql(points)},
        ask_tot AS (
            SELECT account_id, t, sum(asks) AS asks, sum(done) AS done, sum(closed) AS closed,
                   sum(closed_yes) AS closed_yes
            FROM asks GROUP BY ALL
        ),
        nps_tot AS (
            SELECT account_id, t, count(*) AS answered, sum(detractor) AS detractors
            FROM latest GROUP BY ALL
        ),
        peers AS (
            SELECT p.contact_id, p.t,
                   coalesce(x.asks, 0) - coalesce(o.asks, 0) AS asks,
                   coalesce(x.done, 0) - coalesce(o.done, 0) AS done,
                   coalesce(x.closed, 0) - coalesce(o.closed, 0) AS closed,
                   coalesce(x.closed_yes, 0) - coalesce(o.closed_yes, 0) AS closed_yes,
                   coalesce(n.answered, 0) - (l.detractor IS NOT NULL)::INTEGER AS answered,
                   coalesce(n.detractors, 0) - coalesce(l.detractor, 0) AS detractors
            FROM pts p
            LEFT JOIN ask_tot x USING (account_id, t)
            LEFT JOIN asks o USING (account_id, t, contact_id)
            LEFT JOIN nps_tot n USING (account_id, t)
            LEFT JOIN latest l USING (account_id, t, contact_id)
        )
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM (SELECT DISTINCT contact_id, t FROM pts) p LEFT JOIN peers USING (contact_id, t)
        """
    )
