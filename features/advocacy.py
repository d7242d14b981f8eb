"""Advocacy history: how often the contact was asked, how they answered, and when.

These are the ask-fatigue signals, computed for each point from the contact's activities
that existed before t, with the ask rules of `features.state` (a completion at or after t
leaves the ask pending at t). Counts "in the last n days" are by the event's own time:
asks, declines and no-responses by requested_at (declined/no_response carry no time of
their own), completions by completed_at.
"""

from __future__ import annotations

from datetime import date

import duckdb

from advocacy.settings import Settings

ASK = "ask_made_before(a.requested_at, p.t)"
DONE = "activity_completed_before(a.status, a.completed_at, p.t)"


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


def _aggregates(n: int) -> list[str]:
    recent_ask = f"asked_within(a.requested_at, p.t, {n})"
    asked_done = f"a.requested_at IS NOT NULL AND {DONE}"
    status = "ask_status_at(a.status, a.completed_at, p.t)"
    return [
        f"count(*) FILTER (WHERE {ASK}) AS asks",
        f"count(*) FILTER (WHERE {recent_ask}) AS asks_recent",
        f"count(*) FILTER (WHERE {asked_done}) AS done",
        f"count(*) FILTER (WHERE {asked_done} AND within_days(a.completed_at, p.t, {n})) "
        "AS done_recent",
        f"count(*) FILTER (WHERE {ASK} AND {status} = 'declined') AS declined",
        f"count(*) FILTER (WHERE {recent_ask} AND {status} = 'declined') AS declined_recent",
        f"count(*) FILTER (WHERE {ASK} AND {status} = 'no_response') AS silent",
        f"count(*) FILTER (WHERE {recent_ask} AND {status} = 'no_response') AS silent_recent",
        "count(*) FILTER (WHERE ask_pending_at(a.requested_at, a.status, a.completed_at, p.t)) "
        "AS pending",
        f"max(a.requested_at) FILTER (WHERE {ASK}) AS last_ask",
        f"max(a.completed_at) FILTER (WHERE {DONE}) AS last_done",
        f"count(*) FILTER (WHERE a.requested_at IS NULL AND {DONE}) AS unprompted",
        f"count(DISTINCT a.activity_type) FILTER (WHERE {DONE}) AS kinds",
    ]


def advocacy_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Advocacy-history features for every (contact_id, t) of the `points` table."""
    counts = ["asks", "asks_recent", "done", "done_recent", "declined", "declined_recent"]
    counts += ["silent", "silent_recent", "pending"]
    decided = "(done + declined + silent)"
    exprs = [f"coalesce({c}, 0)" for c in counts]
    exprs += [
        f"CASE WHEN {decided} > 0 THEN done / {decided} END",
        "days_between(last_ask, p.t)",
        "days_between(last_done, p.t)",
        "coalesce(unprompted, 0)",
        "coalesce(kinds, 0)",
    ]
    pairs = zip(exprs, feature_names(settings), strict=True)
    select = ", ".join(f"CAST({e} AS DOUBLE) AS {name}" for e, name in pairs)
    return con.sql(
        f"""
        WITH pts AS (SELECT DISTINCT contact_id, t FROM {points}),
        seen AS (
            SELECT p.contact_id, p.t, {", ".join(_aggregates(int(settings.windows.recent_days)))}
            FROM pts p JOIN advocacy_activities a
              ON a.contact_id = p.contact_id
             AND seen_at(coalesce(a.requested_at, a.completed_at), p.t)
            GROUP BY p.contact_id, p.t
        )
        SELECT p.contact_id, p.t, {select} FROM pts p LEFT JOIN seen USING (contact_id, t)
        """
    )
