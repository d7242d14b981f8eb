"""Product usage features: how much, how regularly, how broadly, and which way it is going.

usage_events is the large table (100M rows at 1M contacts), so it is scanned once per T into
`event_days`: one row (h, day, ev) per event before T, keyed by integers, materialised as a
temp table and shared by every builder of the run. A point at t sees the full days before
date(t) (docs/design.md "Time"), so every window is a range of days [date(t) - w, date(t)).

The table is not grouped by day: at 1M contacts 95.9M events make 86.0M (contact, day, event)
groups, so a daily roll-up barely shrinks the rows and its hash aggregate, spilling under the
DuckDB memory cap, cost 29-32 s where the projection costs 5 s (docs/benchmarks.md, fifth
pass). Every value below is a count, a maximum or a bitmask, so one row per event gives the
same numbers as one row per group.

Each point reads its windows from the rows of its own contact inside the longest window: a
hash join on the contact with a day range, so the work per point is the contact's last few
months of events, never a Python loop. Distinct active days and distinct features are counted
with bitmasks (exact, and much cheaper than count(DISTINCT) per point). "Ever" values (days
since the last use, invites and integrations in total) read the contact's history before
date(t); the last use is looked up only for points with no use inside the window. The contact
is keyed by `h = hash(contact_id)`, so joins work on integers (a hash collision among the
contacts is checked for, and refused).

docs/benchmarks.md compares this with as-of joins on cumulative sums: those need a sort of
the whole table per build, and measured slower on 2 cores.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import duckdb

from advocacy.features.engine import cached_table
from advocacy.features.spec import Feature, feature, select_sql
from advocacy.features.state import as_of_date, timestamp_sql
from advocacy.settings import Settings

INVITE_EVENT = "invite_sent"
INTEGRATION_EVENT = "integration_added"
MASK_BITS = 64  # distinct days / event keys are counted with UBIGINT bitmasks of 64 bits
# The windows are part of the features' names (a different window is a different feature).
WINDOWS_DAYS = (7, 30, 90)  # usage_events_<d>d, usage_active_days_<d>d
TREND_RECENT_DAYS, TREND_BASE_DAYS = 30, 60  # usage_trend_30_vs_60: 30 days vs the 60 before
RECENT_DAYS = 90  # breadth, invites and integrations "in the last 90 days"
LONGEST_DAYS = max(*WINDOWS_DAYS, TREND_RECENT_DAYS + TREND_BASE_DAYS, RECENT_DAYS)
# The window join matches a point with the event rows of its contact in the day blocks its
# longest window touches (an equality on (contact, block)), then filters by day: the same
# pairs as a range join on the contact alone, without pairing every point with the contact's
# whole history (docs/benchmarks.md, "Feature build at 1M").
BUCKET_DAYS = 32
DAY_SUMS = sorted({*WINDOWS_DAYS, TREND_RECENT_DAYS, TREND_RECENT_DAYS + TREND_BASE_DAYS})


def event_days(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table (h, day, ev) of the usage events before T, one row per event; its name.

    `h = hash(contact_id)` stands for the contact and `ev` (`event_codes`) for the event key:
    every join downstream compares integers, and the table is 16 bytes a row (at 1M contacts
    1.5 GB in memory for 95.9M events, under the DuckDB memory cap; docs/benchmarks.md).
    """

    def sql() -> str:  # the hash check runs once, when the table is built
        _check_contact_hashes(con)
        return f"""
            SELECT hash(contact_id) AS h, CAST(occurred_at AS DATE) AS day, c.ev
            FROM usage_events JOIN {event_codes(con, as_of)} c USING (event)
            WHERE seen_at(occurred_at, {timestamp_sql(as_of)})
        """

    return cached_table(con, "usage_days", f"usage_days|{as_of_date(as_of)}", sql)


def _check_contact_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to run if two contact ids share a 64-bit hash (about 1 in 10^7 at 1M contacts)."""
    ids, hashes = con.execute(
        "SELECT count(DISTINCT contact_id), count(DISTINCT hash(contact_id)) FROM contacts"
    ).fetchall()[0]
    if ids != hashes:
        raise ValueError("two contact ids share a hash; usage features cannot key on it")


def event_codes(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table (event, ev): a small integer per event key seen before T, in name order.

    The codes are the bit positions of the distinct-features masks and `event_days`' key.
    """
    sql = (
        "SELECT event, CAST(row_number() OVER (ORDER BY event) - 1 AS INTEGER) AS ev FROM "
        f"(SELECT DISTINCT event FROM usage_events "
        f"WHERE seen_at(occurred_at, {timestamp_sql(as_of)}))"
    )
    return cached_table(con, "usage_event_codes", f"event_codes|{as_of_date(as_of)}", sql)


def adoption_rows(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table: the few rows of invites and integrations (for the 'ever' counts)."""
    sql = (
        f"SELECT r.h, r.day, c.event FROM {event_days(con, as_of)} r "
        f"JOIN {event_codes(con, as_of)} c USING (ev) "
        f"WHERE c.event IN ('{INVITE_EVENT}', '{INTEGRATION_EVENT}')"
    )
    return cached_table(con, "usage_adoption", f"usage_adoption|{as_of_date(as_of)}", sql)


def _chunks(size: int) -> range:
    """Start offsets of the MASK_BITS-wide chunks that cover positions [0, size)."""
    return range(0, size, MASK_BITS)


def _mask_agg(position: str, lo: int, where: str) -> str:
    """SQL aggregate: OR of 1 << (position - lo) over rows with position in [lo, lo + 64)."""
    cond = f"{where} AND {position} >= {lo} AND {position} < {lo + MASK_BITS}"
    shift = f"CAST(least(greatest({position} - {lo}, 0), {MASK_BITS - 1}) AS UBIGINT)"
    return f"bit_or(CASE WHEN {cond} THEN CAST(1 AS UBIGINT) << {shift} ELSE 0 END)"


def _bits_below(mask: str, lo: int, size: int) -> str:
    """SQL: how many bits of chunk `mask` (positions lo..lo+63) are below position `size`."""
    keep = size - lo
    if keep <= 0:
        return "0"
    if keep >= MASK_BITS:
        return f"bit_count(coalesce({mask}, 0))"
    return f"bit_count(coalesce({mask}, 0) & ((CAST(1 AS UBIGINT) << {keep}) - 1))"


def _active_days(d: int) -> str:
    """SQL: days with use among the d days before date(t), from the day masks of `win`."""
    return " + ".join(_bits_below(f"days_{lo}", lo, d) for lo in _chunks(LONGEST_DAYS))


def _trend() -> str:
    """SQL: daily event rate of the recent window over the base window's, minus 1."""
    recent, base = TREND_RECENT_DAYS, TREND_BASE_DAYS
    base_events = f"(coalesce(events_{recent + base}, 0) - coalesce(events_{recent}, 0))"
    return (
        f"CASE WHEN {base_events} > 0 THEN (coalesce(events_{recent}, 0) / {recent}) "
        f"/ ({base_events} / {base}) - 1 END"
    )


_f = partial(feature, "usage")
_n = RECENT_DAYS
FEATURES: tuple[Feature, ...] = (
    *(
        _f(
            f"usage_events_{d}d",
            f"coalesce(events_{d}, 0)",
            f"usage_{d}d",
            f"product events in the {d} days before t",
        )
        for d in WINDOWS_DAYS
    ),
    *(
        _f(
            f"usage_active_days_{d}d",
            _active_days(d),
            f"usage_{d}d",
            f"days with any event, last {d} days",
        )
        for d in WINDOWS_DAYS
    ),
    _f(
        f"usage_trend_{TREND_RECENT_DAYS}_vs_{TREND_BASE_DAYS}",
        _trend(),
        "usage_trend",
        f"daily event rate of the last {TREND_RECENT_DAYS} days vs the {TREND_BASE_DAYS} "
        f"before, as a relative change (NaN when the {TREND_BASE_DAYS} days had no events)",
    ),
    _f(
        f"usage_distinct_features_{_n}d",
        "coalesce(distinct_recent, 0)",
        "usage_breadth",
        f"distinct product features (event keys) used in the last {_n} days",
    ),
    _f(
        "usage_days_since_last",
        "date_diff('day', coalesce(last_day_recent, last_day_before), p.d)",
        "usage_recency",
        "days since the last day of use",
    ),
    _f(
        f"usage_invites_{_n}d",
        "coalesce(invites_recent, 0)",
        "usage_invites",
        f"invites sent in the last {_n} days",
    ),
    _f(
        "usage_invites_total",
        "coalesce(invites_total, 0)",
        "usage_invites",
        "invites sent ever (before t)",
    ),
    _f(
        f"usage_integrations_{_n}d",
        "coalesce(integrations_recent, 0)",
        "usage_integrations",
        f"integrations added in the last {_n} days",
    ),
    _f(
        "usage_integrations_total",
        "coalesce(integrations_total, 0)",
        "usage_integrations",
        "integrations added ever (before t)",
    ),
)


def _bucket(day: str) -> str:
    """SQL: the BUCKET_DAYS-wide block of a DATE (monotone in the day)."""
    return f"date_diff('day', DATE '1970-01-01', {day}) // {BUCKET_DAYS}"


def _window_sql(event_rows: str, codes: dict[str, int]) -> str:
    """Per point with use in the longest window: event sums, day masks, distinct event keys.

    One pass over the pairs (point, event row in the window) with few aggregates: the
    active days of every window come from the same day masks, the trend from the sums.
    """
    recent, longest, n_events = RECENT_DAYS, LONGEST_DAYS, len(codes)
    aggs = [f"count(*) FILTER (WHERE off < {d}) AS events_{d}" for d in DAY_SUMS]
    aggs += [f"{_mask_agg('off', lo, 'true')} AS days_{lo}" for lo in _chunks(longest)]
    aggs += [f"{_mask_agg('ev', lo, f'off < {recent}')} AS keys_{lo}" for lo in _chunks(n_events)]
    aggs += [
        f"count(*) FILTER (WHERE off < {recent} AND {_is(codes, INVITE_EVENT)}) AS invites_recent",
        f"count(*) FILTER (WHERE off < {recent} AND {_is(codes, INTEGRATION_EVENT)}) "
        "AS integrations_recent",
        "max(day) AS last_day_recent",
    ]
    distinct = " + ".join(
        ["0", *(_bits_below(f"keys_{lo}", lo, n_events) for lo in _chunks(n_events))]
    )
    return f"""
        SELECT *, {distinct} AS distinct_recent FROM (
            SELECT pid, {", ".join(aggs)}
            FROM (
                SELECT p.pid, r.ev, r.day,
                       CAST(date_diff('day', r.day, p.d - 1) AS INTEGER) AS off
                FROM (
                    SELECT pid, h, d, unnest(range({_bucket("d - " + str(longest))},
                                                   {_bucket("d - 1")} + 1)) AS b
                    FROM pts
                ) p
                JOIN {event_rows} r
                  ON r.h = p.h AND {_bucket("r.day")} = p.b
                 AND seen_at(r.day, p.d) AND NOT seen_at(r.day, p.d - {longest})
            )
            GROUP BY pid
        )
    """


def _is(codes: dict[str, int], event: str) -> str:
    """SQL: the event row is of `event` (false when no such event was seen before T)."""
    return f"ev = {codes[event]}" if event in codes else "false"


def _history_sql(event_rows: str, adoption: str) -> str:
    """Last day of use for points with none in the window; invites/integrations ever."""
    return f"""
        last_use AS (
            SELECT p.pid, max(r.day) AS last_day_before
            FROM (SELECT * FROM pts ANTI JOIN win USING (pid)) p
            JOIN {event_rows} r ON r.h = p.h AND seen_at(r.day, p.d)
            GROUP BY p.pid
        ), adoption AS (
            SELECT p.pid,
                   count(*) FILTER (WHERE r.event = '{INVITE_EVENT}') AS invites_total,
                   count(*) FILTER (WHERE r.event = '{INTEGRATION_EVENT}') AS integrations_total
            FROM pts p JOIN {adoption} r ON r.h = p.h AND seen_at(r.day, p.d)
            GROUP BY p.pid
        )
    """


def relation(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Usage features for every (contact_id, t) of the `points` table."""
    event_rows = event_days(con, as_of)
    codes = dict(con.execute(f"SELECT event, ev FROM {event_codes(con, as_of)}").fetchall())
    return con.sql(
        f"""
        WITH pts AS MATERIALIZED (
            SELECT row_number() OVER () AS pid, contact_id, hash(contact_id) AS h, t,
                   usage_day_limit(t) AS d
            FROM (SELECT DISTINCT contact_id, t FROM {points})
        ),
        win AS MATERIALIZED ({_window_sql(event_rows, codes)}),
        {_history_sql(event_rows, adoption_rows(con, as_of))}
        SELECT p.contact_id, p.t, {select_sql(FEATURES)}
        FROM pts p LEFT JOIN win USING (pid) LEFT JOIN last_use USING (pid)
        LEFT JOIN adoption USING (pid)
        """
    )
