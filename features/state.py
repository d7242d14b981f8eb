"""The state of the world at a time t, rebuilt from timestamps: the one owner of those rules.

targets.md: a run at T sees only rows whose event time is strictly before T, and the same
rules give the state at any earlier t used for a training row. Every feature, label and
eligibility query reads these DuckDB macros (registered by `register_state`) instead of
re-typing a comparison, so "before", "pending", "open" and "opted out" mean one thing.

Columns without an event time (`do_not_contact`, `persona`, `renewal_date`, ...) and the
statuses `declined`, `no_response` and `cancelled` are taken as they are in the files.

Two kinds of macro:
- scalar rules, `ask_status_at(status, completed_at, t)` and friends, for one row at one t;
- delta streams (table macros), the same rules written as +1/-1 events in time, so that a
  running sum over the events strictly before t equals the scalar rule counted at t. The
  feature engine as-of-joins those running sums; tests check the two forms agree.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import duckdb

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400

# name -> (parameters, body). Bodies may use macros defined above them.
SCALAR_MACROS: dict[str, tuple[str, str]] = {
    # A row with event time ts exists at t (strictly before; NULL ts never exists).
    "seen_at": ("ts, t", "ts < t"),
    "happened_before": ("ts, t", "coalesce(ts < t, false)"),
    # Date columns compare as midnight UTC of that date.
    "date_start": ("d", "CAST(d AS TIMESTAMP)"),
    "created_before": ("created_at, t", "happened_before(date_start(created_at), t)"),
    "churned_before": ("churned_at, t", "happened_before(date_start(churned_at), t)"),
    "opted_out_before": ("opt_out_at, t", "happened_before(opt_out_at, t)"),
    # Usage is read from a daily roll-up: a row at t sees the full days before date(t).
    "usage_day_limit": ("t", "CAST(t AS DATE)"),
    "days_span": ("n", "to_days(CAST(n AS INTEGER))"),
    "days_between": (
        "earlier, later",
        "(epoch(CAST(later AS TIMESTAMP)) - epoch(CAST(earlier AS TIMESTAMP))) "
        f"/ {SECONDS_PER_DAY}",
    ),
    # Asks (requested_at set). A completion at or after t is not known at t: still pending.
    "ask_made_before": ("requested_at, t", "happened_before(requested_at, t)"),
    "ask_status_at": (
        "status, completed_at, t",
        "CASE WHEN status = 'completed' AND NOT happened_before(completed_at, t) "
        "THEN 'pending' ELSE status END",
    ),
    "ask_pending_at": (
        "requested_at, status, completed_at, t",
        "ask_made_before(requested_at, t) AND ask_status_at(status, completed_at, t) = 'pending'",
    ),
    "activity_completed_before": (
        "status, completed_at, t",
        "status = 'completed' AND happened_before(completed_at, t)",
    ),
    "asked_within": (
        "requested_at, t, n_days",
        "ask_made_before(requested_at, t) "
        "AND NOT ask_made_before(requested_at, t - days_span(n_days))",
    ),
    # Tickets: closed at or after t means open at t, and its CSAT not yet known.
    "ticket_open_at": (
        "opened_at, closed_at, t",
        "happened_before(opened_at, t) AND NOT happened_before(closed_at, t)",
    ),
    "csat_known_at": ("closed_at, t", "happened_before(closed_at, t)"),
    "csat_at": ("csat, closed_at, t", "CASE WHEN csat_known_at(closed_at, t) THEN csat END"),
    # Label windows. p_advocate: the ask's response window closed before T; yes if completed
    # within it. NULL = the ask is left out (cancelled, or its window still open at T).
    "ask_window_closed_before": (
        "requested_at, window_days, t",
        "happened_before(requested_at + days_span(window_days), t)",
    ),
    "advocate_label": (
        "status, requested_at, completed_at, window_days, t",
        "CASE WHEN requested_at IS NULL OR status = 'cancelled' "
        "OR NOT ask_window_closed_before(requested_at, window_days, t) THEN NULL "
        "WHEN status = 'completed' AND completed_at <= requested_at + days_span(window_days) "
        "THEN 1 ELSE 0 END",
    ),
    # p_burnout: an event in (s, s + horizon] that is also seen at T (an event at T is not).
    "burnout_event_in": (
        "ts, s, horizon_days, t",
        "coalesce(ts > s AND ts <= s + days_span(horizon_days), false) AND happened_before(ts, t)",
    ),
}

TABLE_MACROS: dict[str, tuple[str, str]] = {
    # One row per ticket event seen at as_of: the opening (+1 open) and the closing (-1 open,
    # CSAT becomes known). open_at(t) = sum(opened - closed) over rows with ts < t.
    "ticket_deltas": (
        "as_of",
        """
        SELECT account_id, opened_at AS ts, priority, 1 AS opened, 0 AS closed,
               NULL::BIGINT AS csat
        FROM support_tickets WHERE seen_at(opened_at, as_of)
        UNION ALL
        SELECT account_id, closed_at AS ts, priority, 0 AS opened, 1 AS closed,
               csat_at(csat, closed_at, as_of) AS csat
        FROM support_tickets WHERE seen_at(closed_at, as_of)
        """,
    ),
    # One row per ask (at requested_at) and per completion (at completed_at) seen at as_of.
    # pending_at(t) = sum(pending_from - pending_until) over rows with ts < t.
    "advocacy_deltas": (
        "as_of",
        """
        SELECT contact_id, requested_at AS ts, activity_type,
               1 AS asked,
               CAST(ask_status_at(status, completed_at, requested_at) = 'pending' AS INT)
                   AS pending_from,
               0 AS pending_until,
               CAST(status = 'declined' AS INT) AS declined,
               CAST(status = 'no_response' AS INT) AS no_response,
               0 AS completed, 0 AS completed_ask, 0 AS unprompted
        FROM advocacy_activities WHERE seen_at(requested_at, as_of)
        UNION ALL
        SELECT contact_id, completed_at AS ts, activity_type,
               0, 0, CAST(requested_at IS NOT NULL AS INT), 0, 0,
               1, CAST(requested_at IS NOT NULL AS INT), CAST(requested_at IS NULL AS INT)
        FROM advocacy_activities
        WHERE activity_completed_before(status, completed_at, as_of)
        """,
    ),
}


def register_state(con: duckdb.DuckDBPyConnection) -> None:
    """Define the state-at-t macros on `con` (idempotent; needs the input views for streams)."""
    for name, (params, body) in SCALAR_MACROS.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS ({body})")
    for name, (params, body) in TABLE_MACROS.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS TABLE {body}")
    log.debug("registered %d state macros", len(SCALAR_MACROS) + len(TABLE_MACROS))


def as_of_date(as_of: date | datetime | str) -> date:
    """The run date T; a datetime must be midnight (T is the start of a day)."""
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    if isinstance(as_of, datetime):
        if as_of.time() != datetime.min.time():
            raise ValueError(f"as_of must be a date (midnight UTC), got {as_of.isoformat()}")
        return as_of.date()
    return as_of


def timestamp_sql(as_of: date | datetime | str) -> str:
    """SQL literal for 00:00 UTC of T."""
    return f"TIMESTAMP '{as_of_date(as_of).isoformat()} 00:00:00'"
