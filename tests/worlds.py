"""Test helpers that reshape data folders: cut at T, break one table."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb

from advocacy.data_contracts.load import connect
from advocacy.data_contracts.tables import TABLES

# What each table looked like in an export taken at T: later rows gone, later changes undone.
CUT_SQL = {
    "accounts": "SELECT * REPLACE (CASE WHEN churned_at < $t THEN churned_at END AS churned_at) "
    "FROM accounts WHERE created_at < $t",
    "contacts": "SELECT * REPLACE (CASE WHEN advocacy_opt_out_at < $t THEN advocacy_opt_out_at END "
    "AS advocacy_opt_out_at) FROM contacts WHERE created_at < $t",
    "nps_responses": "SELECT * FROM nps_responses WHERE responded_at < $t",
    "usage_events": "SELECT * FROM usage_events WHERE occurred_at < $t",
    "support_tickets": "SELECT * REPLACE (CASE WHEN closed_at < $t THEN closed_at END "
    "AS closed_at, CASE WHEN closed_at < $t THEN csat END AS csat) FROM support_tickets "
    "WHERE opened_at < $t",
    "advocacy_activities": "SELECT * REPLACE (CASE WHEN status = 'completed' "
    "AND completed_at >= $t THEN 'pending' ELSE status END AS status, CASE WHEN completed_at < $t "
    "THEN completed_at END AS completed_at) FROM advocacy_activities "
    "WHERE coalesce(requested_at, completed_at) < $t",
}


def cut_at(src: Path, dst: Path, as_of: date) -> Path:
    """Write `dst` as the export of `src` would have been at 00:00 UTC of `as_of`."""
    dst.mkdir(parents=True, exist_ok=True)
    con = connect(src)
    t = datetime.combine(as_of, datetime.min.time())
    for name in TABLES:
        con.execute(
            f"COPY ({CUT_SQL[name]}) TO '{dst / (name + '.parquet')}' (FORMAT parquet)", {"t": t}
        )
    con.close()
    return dst


def rewrite_table(src: Path, dst: Path, table: str, select_sql: str) -> Path:
    """Copy every table of `src` into `dst`, replacing `table` with `select_sql` over it."""
    dst.mkdir(parents=True, exist_ok=True)
    con = connect(src)
    for name in TABLES:
        sql = select_sql if name == table else f'SELECT * FROM "{name}"'
        con.execute(f"COPY ({sql}) TO '{dst / (name + '.parquet')}' (FORMAT parquet)")
    con.close()
    return dst


def table_frame(folder: Path, table: str):
    return duckdb.sql(f"SELECT * FROM '{folder / (table + '.parquet')}'").df()
