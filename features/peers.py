"""Account-level signals: how the contact's colleagues at the same account answer.

Advocacy is partly a culture of the account (docs/synthetic-data.md): colleagues who say yes,
or who are detractors, say something about this contact. Every value counts the *other*
contacts of the account, strictly before t: the account's totals per (account, t) minus the
contact's own part. Both come from running totals over the account's asks and answers in
time order (one table per account and one per contact, built once per T and shared by every
builder of the run), read at t with an as-of join on the last event strictly before t: no
per-(account, t) re-aggregation and never contacts x contacts.

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
from advocacy.features.engine import cached_table
from advocacy.features.nps import DETRACTOR_MAX
from advocacy.features.spec import Feature, feature, select_sql
from advocacy.features.state import as_of_date, timestamp_sql
from advocacy.settings import Settings

_LATER = "CAST('infinity' AS TIMESTAMP)"  # a t after every event

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


def _ask_events_sql(T: str) -> str:
    """Rows (account_id, contact_id, ts, d_*): each ask adds 1 to a count from its time on.

    An ask counts from requested_at; a completion once it is completed and asked (the later of
    the two times); an outcome once its response window closed (`advocate_label`'s rule, so a
    cancelled ask never closes). Events at or after T are dropped: a point reads ts < t <= T.
    """
    window = f"a.requested_at + days_span({OUTCOME_WINDOW_DAYS})"
    # The state rules at a t after every event: what the ask becomes once its time comes.
    done = f"activity_completed_before(a.status, a.completed_at, {_LATER})"
    outcome = outcome_known_sql(_LATER)
    done_at = f"CASE WHEN {done} THEN greatest(a.requested_at, a.completed_at) END"
    closed_at = f"CASE WHEN {outcome} IS NOT NULL THEN {window} END"
    yes = f"CAST({outcome} = 1 AS INTEGER)"
    return f"""
        SELECT c.account_id, a.contact_id, ts, d_asks, d_done, d_closed, d_yes
        FROM advocacy_activities a JOIN contacts c ON c.contact_id = a.contact_id,
        LATERAL (VALUES (a.requested_at, 1, 0, 0, 0), ({done_at}, 0, 1, 0, 0),
                        ({closed_at}, 0, 0, 1, {yes}))
          AS e(ts, d_asks, d_done, d_closed, d_yes)
        WHERE a.requested_at IS NOT NULL AND ts IS NOT NULL AND ts < {T}
    """


def _nps_events_sql(T: str) -> str:
    """Rows (account_id, contact_id, ts, d_answered, d_det): the change each NPS answer makes
    to "has answered" and "latest is a detractor" (latest by (responded_at, response_id))."""
    det = f"CAST(r.score <= {DETRACTOR_MAX} AS INTEGER)"
    order = "PARTITION BY c.account_id, r.contact_id ORDER BY r.responded_at, r.response_id"
    return f"""
        SELECT c.account_id, r.contact_id, r.responded_at AS ts,
               CAST(lag(1) OVER ({order}) IS NULL AS INTEGER) AS d_answered,
               {det} - coalesce(lag({det}) OVER ({order}), 0) AS d_det
        FROM nps_responses r JOIN (SELECT DISTINCT contact_id, account_id FROM contacts) c
          ON c.contact_id = r.contact_id
        WHERE r.responded_at < {T}
    """


# delta column of the event rows -> the running total it adds to
_TOTALS = {
    "d_asks": "asks",
    "d_done": "done",
    "d_closed": "closed",
    "d_yes": "closed_yes",
    "d_answered": "answered",
    "d_det": "detractors",
}
_ASK_DELTAS = ("d_asks", "d_done", "d_closed", "d_yes")


def _events_sql(T: str) -> str:
    """Ask and NPS event rows in one table: (account_id, contact_id, ts, one delta per total)."""
    asks = ", ".join(f"{d if d in _ASK_DELTAS else 0} AS {d}" for d in _TOTALS)
    nps = ", ".join(f"{0 if d in _ASK_DELTAS else d} AS {d}" for d in _TOTALS)
    return f"""
        SELECT account_id, contact_id, ts, {asks} FROM ({_ask_events_sql(T)})
        UNION ALL
        SELECT account_id, contact_id, ts, {nps} FROM ({_nps_events_sql(T)})
    """


def _running_sql(events: str, keys: str) -> str:
    """Running totals per `keys` at each event row: the sums of the deltas up to its ts.

    The window's default frame (RANGE ... CURRENT ROW) gives rows with the same ts the same
    totals, so an as-of join may land on any of them."""
    running = ", ".join(f"sum({d}) OVER w AS {t}" for d, t in _TOTALS.items())
    return f"""
        SELECT {keys}, ts, {running} FROM {events}
        WINDOW w AS (PARTITION BY {keys} ORDER BY ts)
    """


def running_tables(con: duckdb.DuckDBPyConnection, as_of: date) -> tuple[str, str]:
    """Temp tables of running totals per account and per (account, contact), before T.

    Built once per connection and T, and shared by every builder of the run; a point at t
    reads the last row with ts < t (an as-of join), so nothing at or after t is seen.
    """
    T = timestamp_sql(as_of)
    key = f"{as_of_date(as_of)}|{OUTCOME_WINDOW_DAYS}|{DETRACTOR_MAX}"
    events = cached_table(con, "peers_events", f"events|{key}", _events_sql(T))
    account = cached_table(
        con, "peers_account", f"account|{key}", _running_sql(events, "account_id")
    )
    own = _running_sql(events, "account_id, contact_id")
    return account, cached_table(con, "peers_contact", f"contact|{key}", own)


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Colleague features for every (contact_id, t) of `points` (from its account_id).

    The account's running totals at t minus the contact's own (both as of the last event
    strictly before t): the same counts as aggregating the account's rows before each t.
    """
    account, own = running_tables(con, as_of)
    diff = ", ".join(f"coalesce(x.{c}, 0) - coalesce(o.{c}, 0) AS {c}" for c in _TOTALS.values())
    return con.sql(
        f"""
        WITH pts AS (SELECT DISTINCT contact_id, account_id, t FROM {points}),
        peers AS (
            SELECT p.contact_id, p.t, {diff}
            FROM pts p
            ASOF LEFT JOIN {account} x ON x.account_id = p.account_id AND p.t > x.ts
            ASOF LEFT JOIN {own} o
              ON o.account_id = p.account_id AND o.contact_id = p.contact_id AND p.t > o.ts
        )
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM (SELECT DISTINCT contact_id, t FROM pts) p LEFT JOIN peers USING (contact_id, t)
        """
    )
