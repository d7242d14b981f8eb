"""The state of the world at a time t, rebuilt from timestamps: the one owner of those rules.

A run at T sees only rows whose event time is strictly before T (docs/design.md "Time"), and
the same rules give the state at any earlier t used for a training row. Every feature, label
and eligibility query reads these DuckDB macros (registered by `register_state`) instead of
re-typing a comparison, so "before", "pending", "open" and "opted out" mean one thing:
`ask_status_at(status, requested_at, completed_at, t)`, `ticket_open_at(opened_at, closed_at,
t)`, `csat_at(csat, closed_at, t)`, `opted_out_before(opt_out_at, t)`, `churned_before(...)`,
the label rules `advocate_label(...)` and `burnout_event_in(...)`, and so on.

An ask's answer is known at t only once it is settled at t: completed before t, or declined,
unanswered or cancelled (statuses with no time of their own) once its `OUTCOME_WINDOW_DAYS`
response window closed before t. Until then it is `pending` at t, at every t including a
scoring T, so a decline given after t never shows at t and training and scoring rows agree.
Cancelled asks follow the declines (their time is unknown too); no feature counts them.
A decline or cancellation given after the window still shows from the window's end on: the
files cannot say when it came (it only splits a "no" between declined and unanswered).

Eligibility at T is the one reader of the statuses as the files hold them
(`ask_open_in_files_at`): at T the export is the CRM's answer, so a contact who declined
yesterday is not "waiting for an answer" (the asked-recently rule still blocks them). That
is exact for files exported at T; on a later export it reads answers given after T.

Other columns without an event time (`do_not_contact`, `persona`, `renewal_date`, ...) are
taken as they are in the files.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import duckdb

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
# The response window after which a declined / unanswered / cancelled ask counts as settled.
# Part of the features' definition (the default label window), not a setting: a champion's
# features must not change when `windows.response_window_days` does (features.advocacy).
OUTCOME_WINDOW_DAYS = 30

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
    # Usage is read by day (features.usage.event_days): a row at t sees the full days before
    # date(t).
    "usage_day_limit": ("t", "CAST(t AS DATE)"),
    "days_span": ("n", "to_days(CAST(n AS INTEGER))"),
    # In the n days before t: [t - n days, t).
    "within_days": (
        "ts, t, n_days",
        "happened_before(ts, t) AND NOT happened_before(ts, t - days_span(n_days))",
    ),
    "days_between": (
        "earlier, later",
        "(epoch(CAST(later AS TIMESTAMP)) - epoch(CAST(earlier AS TIMESTAMP))) "
        f"/ {SECONDS_PER_DAY}",
    ),
    # Asks (requested_at set). The response window closed before t (label and features).
    "ask_window_closed_before": (
        "requested_at, window_days, t",
        "happened_before(requested_at + days_span(window_days), t)",
    ),
    "ask_made_before": ("requested_at, t", "happened_before(requested_at, t)"),
    # The answer as known at t: a completion at or after t, or a timeless answer (declined,
    # no_response, cancelled) while the OUTCOME_WINDOW_DAYS window is open at t, is pending.
    "ask_status_at": (
        "status, requested_at, completed_at, t",
        "CASE WHEN status = 'completed' AND NOT happened_before(completed_at, t) THEN 'pending' "
        "WHEN status IN ('declined', 'no_response', 'cancelled') AND NOT "
        f"ask_window_closed_before(requested_at, {OUTCOME_WINDOW_DAYS}, t) THEN 'pending' "
        "ELSE status END",
    ),
    "ask_pending_at": (
        "requested_at, status, completed_at, t",
        "ask_made_before(requested_at, t) "
        "AND ask_status_at(status, requested_at, completed_at, t) = 'pending'",
    ),
    # Eligibility only (see the module docstring): open in the files at T, answers as exported.
    "ask_open_in_files_at": (
        "requested_at, status, completed_at, t",
        "ask_made_before(requested_at, t) AND (status = 'pending' "
        "OR (status = 'completed' AND NOT happened_before(completed_at, t)))",
    ),
    "activity_completed_before": (
        "status, completed_at, t",
        "status = 'completed' AND happened_before(completed_at, t)",
    ),
    "asked_within": ("requested_at, t, n_days", "within_days(requested_at, t, n_days)"),
    # Tickets: closed at or after t means open at t, and its CSAT not yet known.
    "ticket_open_at": (
        "opened_at, closed_at, t",
        "happened_before(opened_at, t) AND NOT happened_before(closed_at, t)",
    ),
    "csat_known_at": ("closed_at, t", "happened_before(closed_at, t)"),
    "csat_at": ("csat, closed_at, t", "CASE WHEN csat_known_at(closed_at, t) THEN csat END"),
    # Label windows. p_advocate: the ask's response window closed before T; yes if completed
    # within it. NULL = the ask is left out (cancelled, or its window still open at T).
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


def register_state(con: duckdb.DuckDBPyConnection) -> None:
    """Define the state-at-t macros on `con` (idempotent)."""
    for name, (params, body) in SCALAR_MACROS.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS ({body})")
    log.debug("registered %d state macros", len(SCALAR_MACROS))


def as_of_date(as_of: date) -> date:
    """The run date T, checked: T is a day (its 00:00 UTC), never a time or a text."""
    if isinstance(as_of, datetime) or not isinstance(as_of, date):
        kind = type(as_of).__name__
        raise TypeError(f"as_of must be a datetime.date (the run day T), got {kind} {as_of!r}")
    return as_of


def timestamp_sql(as_of: date) -> str:
    """SQL literal for 00:00 UTC of T."""
    return f"TIMESTAMP '{as_of_date(as_of).isoformat()} 00:00:00'"
