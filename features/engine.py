"""Shared machinery of the feature families: cached streams and as-of look-ups at bounds.

A family turns its table into a *stream*: per key (contact or account), rows in time order
carrying running totals. The value of a total at time b is the running total of the last
stream row strictly before b (`seen_at`), found with DuckDB's ASOF JOIN; a window count
(b - w, b] ... is the difference of two such look-ups. So every points table, whatever the
mix of times, costs a few sorted merges and never a join of points x raw rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

import duckdb

log = logging.getLogger(__name__)


def cached_table(con: duckdb.DuckDBPyConnection, base: str, key: str, sql: str) -> str:
    """Materialise `sql` once per connection as a temp table named after `key`; its name.

    Streams depend only on T and a few settings, so the training and scoring builders of
    one run share them. A connection serves one data folder (the views never change).
    """
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = f"_{base}_{digest}"
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]
    ).fetchall()
    if exists[0][0] == 0:
        con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        log.debug("materialised %s (%s)", name, key)
    return name


def lookup_at_bounds(
    points: str,
    key: str,
    stream: str,
    time_col: str,
    bounds: Mapping[str, str],
    columns: Mapping[str, Sequence[str]],
) -> str:
    """SQL: one row per distinct (key, t) of `points` with stream columns as of each bound.

    `bounds` maps a bound name to an SQL expression of the point's `t`; `columns` maps the
    bound name to the stream columns wanted there, returned as `<column>__<bound>` (NULL
    when the key has no stream row before the bound). One ASOF JOIN per bound.
    """
    selects = [f"_pts.{key}", "_pts.t"]
    joins = []
    for i, (name, expr) in enumerate(bounds.items()):
        alias = f"_b{i}"
        cols = ", ".join(f"s.{c} AS {c}__{name}" for c in columns[name])
        joins.append(
            f"LEFT JOIN (SELECT p.{key}, p.t, {cols} FROM _pts p ASOF LEFT JOIN {stream} s "
            f"ON p.{key} = s.{key} AND seen_at(s.{time_col}, {expr.format(t='p.t')})) {alias} "
            f"ON {alias}.{key} = _pts.{key} AND {alias}.t = _pts.t"
        )
        selects += [f"{alias}.{c}__{name}" for c in columns[name]]
    return (
        f"WITH _pts AS (SELECT DISTINCT {key}, t FROM {points}) "
        f"SELECT {', '.join(selects)} FROM _pts {' '.join(joins)}"
    )
