"""Shared machinery of the feature families: per-run temp tables built once per connection."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import duckdb

log = logging.getLogger(__name__)


def cached_table(
    con: duckdb.DuckDBPyConnection, base: str, key: str, sql: str | Callable[[], str]
) -> str:
    """Materialise `sql` once per connection as a temp table named after `key`; its name.

    The usage rows depend only on T, so the training and scoring builders of one run
    share it. A connection serves one data folder (the views never change). `sql` may be a
    function, called only when the table is built (so checks it makes run once per run).
    """
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = f"_{base}_{digest}"
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]
    ).fetchall()
    if exists[0][0] == 0:
        con.execute(f"CREATE TEMP TABLE {name} AS {sql() if callable(sql) else sql}")
        log.debug("materialised %s (%s)", name, key)
    return name
