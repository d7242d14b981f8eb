"""Product usage features: how much, how regularly, how broadly, and which way it is going.

usage_events is the large table (100M rows at 1M contacts), so it is scanned once per T into
a daily roll-up (contact, day, event, n) of the days before T, materialised as a temp table
and shared by every builder of the run. A point at t sees the full days before date(t)
(design.md "Time"), so every window is a range of days [date(t) - w, date(t)).

Each point reads its windows from the roll-up rows of its own contact inside the longest
window: a hash join on the contact with a day range, so the work per point is the contact's
last few months of roll-up rows, never raw events and never a Python loop. Distinct active
days and distinct features are counted with bitmasks (exact, and much cheaper than
count(DISTINCT) per point). "Ever" values (days since the last use, invites and integrations
in total) read the contact's roll-up history before date(t); the last use is looked up only
for points with no use inside the window. The roll-up keys the contact by
`h = hash(contact_id)`, so grouping and joins work on integers (a hash collision among the
contacts is checked for, and refused).

docs/benchmarks.md compares this with as-of joins on cumulative sums: those need a sort of
the whole roll-up per build, and measured slower on 2 cores.
"""

from __future__ import annotations

from datetime import date

import duckdb
from advocacy.features.engine import cached_table
from advocacy.features.state import as_of_date, timestamp_sql

from advocacy.settings import Settings

INVITE_EVENT = "invite_sent"
INTEGRATION_EVENT = "integration_added"
MASK_BITS = 64  # distinct days / event keys are counted with UBIGINT bitmasks of 64 bits


def daily_rollup(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table (h, day, event, n) of the usage events before T; its name.

    `h = hash(contact_id)` stands for the contact: grouping by an integer is cheaper than by
    the text id, and every join downstream compares integers.
    """
    _check_contact_hashes(con)
    sql = f"""
        SELECT hash(contact_id) AS h, CAST(occurred_at AS DATE) AS day, event, count(*) AS n
        FROM usage_events WHERE seen_at(occurred_at, {timestamp_sql(as_of)})
        GROUP BY ALL
    """
    return cached_table(con, "usage_daily", f"usage_daily|{as_of_date(as_of)}", sql)


def _check_contact_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to run if two contact ids share a 64-bit hash (about 1 in 10^7 at 1M contacts)."""
    ids, hashes = con.execute(
        "SELECT count(DISTINCT contact_id), count(DISTINCT hash(contact_id)) FROM contacts"
    ).fetchall()[0]
    if ids != hashes:
        raise ValueError("two contact ids share a hash; usage features cannot key on it")


def adoption_rows(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table: the few roll-up rows of invites and integrations (for the 'ever' counts)."""
    sql = (
        f"SELECT h, day, event, n FROM {daily_rollup(con, as_of)} "
        f"WHERE event IN ('{INVITE_EVENT}', '{INTEGRATION_EVENT}')"
    )
    return cached_table(con, "usage_adoption", f"usage_adoption|{as_of_date(as_of)}", sql)


def event_codes(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """Temp table (event, ev): a small integer per event key seen before T (bit positions)."""
    sql = (
        "SELECT event, CAST(row_number() OVER (ORDER BY event) - 1 AS INTEGER) AS ev "
        f"FROM (SELECT DISTINCT event FROM {daily_rollup(con, as_of)})"
    )
    return cached_table(con, "usage_event_codes", f"event_codes|{as_of_date(as_of)}", sql)


def feature_names(settings: Settings) -> list[str]:
    """Output columns, named after the configured windows."""
    w = settings.windows
    names = [f"usage_events_{d}d" for d in w.usage_windows_days]
    names += [f"usage_active_days_{d}d" for d in w.usage_windows_days]
    names += [
        f"usage_trend_{w.usage_trend_recent_days}_vs_{w.usage_trend_base_days}",
        f"usage_distinct_features_{w.recent_days}d",
        "usage_days_since_last",
        f"usage_invites_{w.recent_days}d",
        "usage_invites_total",
        f"usage_integrations_{w.recent_days}d",
        "usage_integrations_total",
    ]
    return names


def _longest_window(settings: Settings) -> int:
    w = settings.windows
    trend = w.usage_trend_recent_days + w.usage_trend_base_days
    return max(*w.usage_windows_days, trend, w.recent_days)


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


def _day_sums(settings: Settings) -> list[int]:
    """The windows (in days back from date(t)) whose event sums the features need."""
    w = settings.windows
    trend_end = w.usage_trend_recent_days + w.usage_trend_base_days
    return sorted({*w.usage_windows_days, w.usage_trend_recent_days, trend_end})


def _window_sql(rollup: str, codes: str, settings: Settings, n_events: int) -> str:
    """Per point with use in the longest window: event sums, day and event bitmasks.

    One pass over the pairs (point, roll-up row in the window) with few aggregates: the
    active days of every window come from the same day masks, the trend from the sums.
    """
    long, longest = settings.windows.recent_days, _longest_window(settings)
    aggs = [f"sum(n) FILTER (WHERE off < {d}) AS events_{d}" for d in _day_sums(settings)]
    aggs += [f"{_mask_agg('off', lo, 'true')} AS days_{lo}" for lo in _chunks(longest)]
    aggs += [f"{_mask_agg('ev', lo, f'off < {long}')} AS keys_{lo}" for lo in _chunks(n_events)]
    aggs += [
        f"sum(n) FILTER (WHERE off < {long} AND event = '{INVITE_EVENT}') AS invites_recent",
        f"sum(n) FILTER (WHERE off < {long} AND event = '{INTEGRATION_EVENT}') "
        "AS integrations_recent",
        "max(day) AS last_day_recent",
    ]
    return f"""
        SELECT pid, {", ".join(aggs)}
        FROM (
            SELECT p.pid, r.n, r.event, r.day, c.ev, CAST(p.d - 1 - r.day AS INTEGER) AS off
            FROM pts p JOIN {rollup} r
              ON r.h = p.h AND seen_at(r.day, p.d) AND NOT seen_at(r.day, p.d - {longest})
            JOIN {codes} c USING (event)
        )
        GROUP BY pid
    """


def _history_sql(rollup: str, adoption: str) -> str:
    """Last day of use for points with none in the window; invites/integrations ever."""
    return f"""
        last_use AS (
            SELECT p.pid, max(r.day) AS last_day_before
            FROM (SELECT * FROM pts ANTI JOIN win USING (pid)) p
            JOIN {rollup} r ON r.h = p.h AND seen_at(r.day, p.d)
            GROUP BY p.pid
        ), adoption AS (
            SELECT p.pid,
                   sum(r.n) FILTER (WHERE r.event = '{INVITE_EVENT}') AS invites_total,
                   sum(r.n) FILTER (WHERE r.event = '{INTEGRATION_EVENT}') AS integrations_total
            FROM pts p JOIN {adoption} r ON r.h = p.h AND seen_at(r.day, p.d)
            GROUP BY p.pid
        )
    """


def _select(settings: Settings, n_events: int) -> str:
    w = settings.windows
    recent, base = w.usage_trend_recent_days, w.usage_trend_base_days
    chunks = _chunks(_longest_window(settings))

    def active(d: int) -> str:
        return " + ".join(_bits_below(f"days_{lo}", lo, d) for lo in chunks)

    trend_base = f"(coalesce(events_{recent + base}, 0) - coalesce(events_{recent}, 0))"
    distinct = " + ".join(
        ["0", *(_bits_below(f"keys_{lo}", lo, n_events) for lo in _chunks(n_events))]
    )
    exprs = [f"coalesce(events_{d}, 0)" for d in w.usage_windows_days]
    exprs += [active(d) for d in w.usage_windows_days]
    exprs += [
        f"CASE WHEN {trend_base} > 0 THEN (coalesce(events_{recent}, 0) / {recent}) "
        f"/ ({trend_base} / {base}) - 1 END",
        distinct,
        "p.d - coalesce(last_day_recent, last_day_before)",
        "coalesce(invites_recent, 0)",
        "coalesce(invites_total, 0)",
        "coalesce(integrations_recent, 0)",
        "coalesce(integrations_total, 0)",
    ]
    pairs = zip(exprs, feature_names(settings), strict=True)
    return ", ".join(f"CAST({e} AS DOUBLE) AS {n}" for e, n in pairs)


def usage_features(
    con: duckdb.DuckDBPyConnection, points: str, as_of: date, settings: Settings
) -> duckdb.DuckDBPyRelation:
    """Usage features for every (contact_id, t) of the `points` table."""
    rollup, codes = daily_rollup(con, as_of), event_codes(con, as_of)
    n_events = con.execute(f"SELECT count(*) FROM {codes}").fetchall()[0][0]
    return con.sql(
        f"""
        WITH pts AS MATERIALIZED (
            SELECT row_number() OVER () AS pid, contact_id, hash(contact_id) AS h, t,
                   usage_day_limit(t) AS d
            FROM (SELECT DISTINCT contact_id, t FROM {points})
        ),
        win AS MATERIALIZED ({_window_sql(rollup, codes, settings, n_events)}),
        {_history_sql(rollup, adoption_rows(con, as_of))}
        SELECT p.contact_id, p.t, {_select(settings, n_events)}
        FROM pts p LEFT JOIN win USING (pid) LEFT JOIN last_use USING (pid)
        LEFT JOIN adoption USING (pid)
        """
    )
