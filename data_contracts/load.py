"""Find and open a data folder: one file per table, Parquet preferred over CSV.

`connect` gives a DuckDB connection with one typed view per table, so everything
downstream (features, eligibility) reads the files directly and lazily; nothing is
copied into memory here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from data_contracts.tables import DUCKDB_TYPES, TABLES, Table

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")


class DataFolderError(Exception):
    """A data folder or one of its files cannot be used at all (missing, empty, unreadable)."""

    def __init__(self, table: str, path: Path | None, problem: str) -> None:
        self.table, self.path, self.problem = table, path, problem
        where = str(path) if path else "(no file)"
        super().__init__(f"table {table}: {problem} [{where}]")


def find_table_file(data_dir: Path | str, table: str) -> Path:
    """The file that holds `table`: `<table>.parquet`, else `<table>.csv`."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataFolderError(table, data_dir, "data folder does not exist")
    for fmt in FORMATS:
        path = data_dir / f"{table}.{fmt}"
        if path.exists():
            if path.stat().st_size == 0:
                raise DataFolderError(table, path, "file is empty")
            return path
    raise DataFolderError(table, None, f"missing: expected {table}.parquet or {table}.csv in {data_dir}")


def source_sql(path: Path) -> str:
    """DuckDB table function reading the file; CSV columns are read as text and cast later."""
    p = str(path).replace("'", "''")
    if path.suffix == ".parquet":
        return f"read_parquet('{p}')"
    return f"read_csv('{p}', header=true, all_varchar=true)"


def typed_select(table: Table, source: str) -> str:
    """SELECT that casts each contract column to its DuckDB type (extra columns dropped)."""
    cols = []
    for c in table.columns:
        cast = DUCKDB_TYPES[c.kind]
        if c.kind in ("string", "enum"):
            expr = f'CAST("{c.name}" AS VARCHAR)'
        elif c.kind == "bool":
            expr = f'CAST(CAST("{c.name}" AS VARCHAR) AS BOOLEAN)'
        elif c.kind == "timestamp":
            # tz-aware values are converted to UTC, naive values are UTC already.
            expr = f'CAST("{c.name}" AS TIMESTAMP)'
        else:
            expr = f'CAST("{c.name}" AS {cast})'
        cols.append(f'{expr} AS "{c.name}"')
    return f"SELECT {', '.join(cols)} FROM {source}"


def connect(data_dir: Path | str, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with a typed view per input table."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    register_views(con, data_dir)
    return con


def register_views(con: duckdb.DuckDBPyConnection, data_dir: Path | str) -> None:
    for name, table in TABLES.items():
        path = find_table_file(data_dir, name)
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {typed_select(table, source_sql(path))}')
    log.debug("registered %d table views over %s", len(TABLES), data_dir)
