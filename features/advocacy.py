"""Advocacy history: how often the contact was asked, how they answered, and when.

These are the ask-fatigue signals, computed for each point from the contact's activities
that existed before t, with the ask rules of `features.state`: an ask is pending at t until
its answer is settled (completed before t; declined or unanswered once its
`OUTCOME_WINDOW_DAYS` window closed before t), so no answer given after t shows at t, at a
training row's t and at the scoring T alike. Counts "in the last 90 days" (`RECENT_DAYS`) are
by the event's own time: asks, declines and no-responses by requested_at (declined/no_response
carry no time of their own), completions by completed_at. The smoothed acceptance reads
only outcomes that were settled before t (`outcome_known_sql`).
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.spec import Feature, feature, select_sql
from advocacy.features.state import OUTCOME_WINDOW_DAYS
from advocacy.settings import Settings

RECENT_DAYS = 90  # "recent" asks and answers: in the 90 days before t
YEAR_DAYS = 365  # adv_asks_365d: the ask load of the last year
# Smoothed acceptance = (yes + PRIOR_WEIGHT * PRIOR) / (closed asks + PRIOR_WEIGHT) over the
# asks whose response window closed before t (the label rule `advocate_label`), so a pending
# ask's outcome never shows; a fixed prior (about the demo worlds' long-run acceptance), so it
# needs no data after t. `features.peers` uses the same rule for colleagues. The window
# (`features.state.OUTCOME_WINDOW_DAYS`, the one that also settles declines for every ask
# feature) is part of the features' definition (30 days, the default label window), not a
# setting, so a champion's features do not move when `windows.response_window_days` does.
ACCEPTANCE_PRIOR = 0.4
PRIOR_WEIGHT = 3.0
ASK = "ask_made_before(a.requested_at, p.t)"
DONE = "activity_completed_before(a.status, a.completed_at, p.t)"
DECIDED = "(done + declined + silent)"


def smoothed_sql(yes: str, closed: str) -> str:
    """(yes + PRIOR_WEIGHT * PRIOR) / (closed + PRIOR_WEIGHT), NULL counts read as 0.

    The constants are DOUBLEs: a bare 1.2000000000000002 is a DECIMAL to DuckDB and a double
    to Spark, and the sums then differ in the last bit (engine parity, docs/scale-out.md)."""
    prior = f"CAST({PRIOR_WEIGHT * ACCEPTANCE_PRIOR!r} AS DOUBLE)"
    weight = f"CAST({PRIOR_WEIGHT!r} AS DOUBLE)"
    return f"(coalesce({yes}, 0) + {prior}) / (coalesce({closed}, 0) + {weight})"


def outcome_known_sql(t: str = "p.t") -> str:
    """Ask `a`'s outcome known at t: 1 if completed within `OUTCOME_WINDOW_DAYS`, 0 if not,
    NULL while that window is open at t (or cancelled): the label rule of `features.state`."""
    window = OUTCOME_WINDOW_DAYS
    return f"advocate_label(a.status, a.requested_at, a.completed_at, {window}, {t})"


_f = partial(feature, "advocacy")
_n = RECENT_DAYS
FEATURES: tuple[Feature, ...] = (
    _f("adv_asks", "coalesce(asks, 0)", "adv_record", "advocacy asks made before t"),
    _f(
        f"adv_asks_{_n}d",
        "coalesce(asks_recent, 0)",
        "adv_recent_asks",
        f"asks made in the last {_n} days",
    ),
    _f("adv_completions", "coalesce(done, 0)", "adv_record", "asks completed before t"),
    _f(
        f"adv_completions_{_n}d",
        "coalesce(done_recent, 0)",
        "adv_recent_yes",
        f"asks completed, last {_n} days",
    ),
    _f(
        "adv_declines",
        "coalesce(declined, 0)",
        "adv_refusals",
        "asks made before t and declined (settled: window closed)",
    ),
    _f(
        f"adv_declines_{_n}d",
        "coalesce(declined_recent, 0)",
        "adv_recent_refusals",
        f"asks made in the last {_n} days and declined",
    ),
    _f(
        "adv_no_responses",
        "coalesce(silent, 0)",
        "adv_refusals",
        "asks made before t, unanswered when their window closed",
    ),
    _f(
        f"adv_no_responses_{_n}d",
        "coalesce(silent_recent, 0)",
        "adv_recent_refusals",
        f"asks made in the last {_n} days, unanswered when their window closed",
    ),
    _f(
        "adv_pending",
        "coalesce(pending, 0)",
        "adv_pending",
        "asks whose answer is not settled at t (not completed yet, or in the window)",
    ),
    _f(
        "adv_acceptance_rate",
        f"CASE WHEN {DECIDED} > 0 THEN done / {DECIDED} END",
        "adv_acceptance",
        "completed / (completed + declined + no response) asks settled at t; NaN if none",
    ),
    _f(
        "adv_acceptance_smoothed",
        smoothed_sql("closed_yes", "closed"),
        "adv_acceptance_smoothed",
        f"(yes + {PRIOR_WEIGHT:g} x {ACCEPTANCE_PRIOR:g}) / (asks + {PRIOR_WEIGHT:g}) over the "
        f"asks whose {OUTCOME_WINDOW_DAYS}-day response window closed before t (yes = completed "
        "within it): the acceptance rate, shrunk to a prior when asks are few",
    ),
    _f(
        f"adv_asks_{YEAR_DAYS}d",
        "coalesce(asks_year, 0)",
        "adv_year_asks",
        f"asks made in the last {YEAR_DAYS} days",
    ),
    _f(
        "adv_days_since_last_ask",
        "days_between(last_ask, p.t)",
        "adv_last_ask",
        "days since the last ask",
    ),
    _f(
        "adv_days_since_last_completion",
        "days_between(last_done, p.t)",
        "adv_last_completion",
        "days since the last completed activity (asked or not)",
    ),
    _f(
        "adv_unprompted",
        "coalesce(unprompted, 0)",
        "adv_unprompted",
        "activities done without an ask",
    ),
    _f(
        "adv_activity_types_completed",
        "coalesce(kinds, 0)",
        "adv_variety",
        "distinct activity types completed before t",
    ),
)


def _aggregates() -> str:
    """Per (contact, t): the counts and last times the formulas read."""
    outcome = outcome_known_sql()
    recent_ask = f"asked_within(a.requested_at, p.t, {RECENT_DAYS})"
    asked_done = f"a.requested_at IS NOT NULL AND {DONE}"
    status = "ask_status_at(a.status, a.requested_at, a.completed_at, p.t)"
    recent_done = f"within_days(a.completed_at, p.t, {RECENT_DAYS})"
    pending = "ask_pending_at(a.requested_at, a.status, a.completed_at, p.t)"
    return ", ".join(
        [
            f"count(*) FILTER (WHERE {ASK}) AS asks",
            f"count(*) FILTER (WHERE {recent_ask}) AS asks_recent",
            f"count(*) FILTER (WHERE asked_within(a.requested_at, p.t, {YEAR_DAYS})) AS asks_year",
            f"count(*) FILTER (WHERE {asked_done}) AS done",
            f"count(*) FILTER (WHERE {asked_done} AND {recent_done}) AS done_recent",
            f"count(*) FILTER (WHERE {ASK} AND {status} = 'declined') AS declined",
            f"count(*) FILTER (WHERE {recent_ask} AND {status} = 'declined') AS declined_recent",
            f"count(*) FILTER (WHERE {ASK} AND {status} = 'no_response') AS silent",
            f"count(*) FILTER (WHERE {recent_ask} AND {status} = 'no_response') AS silent_recent",
            f"count(*) FILTER (WHERE {pending}) AS pending",
            f"count(*) FILTER (WHERE {outcome} IS NOT NULL) AS closed",
            f"count(*) FILTER (WHERE {outcome} = 1) AS closed_yes",
            f"max(a.requested_at) FILTER (WHERE {ASK}) AS last_ask",
            f"max(a.completed_at) FILTER (WHERE {DONE}) AS last_done",
            f"count(*) FILTER (WHERE a.requested_at IS NULL AND {DONE}) AS unprompted",
            f"count(DISTINCT a.activity_type) FILTER (WHERE {DONE}) AS kinds",
        ]
    )


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Advocacy-history features for every (contact_id, t) of the `points` table."""
    return con.sql(
        f"""
        WITH pts AS (SELECT DISTINCT contact_id, t FROM {points}),
        seen AS (
            SELECT p.contact_id, p.t, {_aggregates()}
            FROM pts p JOIN advocacy_activities a
              ON a.contact_id = p.contact_id
             AND seen_at(coalesce(a.requested_at, a.completed_at), p.t)
            GROUP BY p.contact_id, p.t
        )
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM pts p LEFT JOIN seen USING (contact_id, t)
        """
    )
