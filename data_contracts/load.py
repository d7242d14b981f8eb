"""Find and open a data folder: one file per table, Parquet preferred over CSV.

`connect` gives a DuckDB connection with one typed view per table, so everything
downstream (features, eligibility) reads the files directly and lazily; nothing is
copied into memory here.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd

from advocacy.data_contracts.tables import DUCKDB_TYPES, OPTIONAL_TABLES, TABLES, Column, Table
from advocacy.settings import EngineSettings

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")


class DataFolderError(Exception):
    """A data folder or one of its files cannot be used at all (missing, empty, unreadable).

    `table` is None when the folder itself is the problem; the message is always one line.
    """

    def __init__(self, table: str | None, path: Path | None, problem: str) -> None:
        self.table, self.path, self.problem = table, path, problem
        if table is None:
            super().__init__(f"{problem}: {path}")
        else:
            where = str(path) if path else "(no file)"
            super().__init__(f"table {table}: {problem} [{where}]")


def check_data_folder(data_dir: Path | str) -> Path:
    """The data folder, if it can be a data folder at all; else one `DataFolderError`.

    Cheap (no file is opened), so the CLI can call it before starting Prefect: the folder must
    exist, be a folder, be listable and hold at least one input table file. A missing table or a
    bad file is not an error here; `validate_folder` reports those per table.
    """
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise DataFolderError(None, data_dir, "data folder does not exist")
    if not data_dir.is_dir():
        raise DataFolderError(None, data_dir, "data folder is a file, not a folder")
    try:
        names = {p.name for p in data_dir.iterdir()}
    except OSError as exc:
        problem = f"data folder cannot be read ({exc.strerror or exc})"
        raise DataFolderError(None, data_dir, problem) from None
    expected = [f"{t}.{fmt}" for t in TABLES for fmt in FORMATS]
    if not names & set(expected):
        raise DataFolderError(
            None,
            data_dir,
            f"data folder holds none of the {len(TABLES)} input tables "
            f"(expected {', '.join(f'{t}.parquet|csv' for t in TABLES)})",
        )
    return data_dir


def find_table_file(data_dir: Path | str, table: str) -> Path:
    """The file that holds `table`: `<table>.parquet`, else `<table>.csv`."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataFolderError(None, data_dir, "data folder does not exist")
    for fmt in FORMATS:
        path = data_dir / f"{table}.{fmt}"
        if path.exists():
            if path.stat().st_size == 0:
                raise DataFolderError(table, path, "file is empty")
            return path
    raise DataFolderError(
        table, None, f"missing: expected {table}.parquet or {table}.csv in {data_dir}"
    )


def source_sql(path: Path) -> str:
    """DuckDB table function reading the file; CSV columns are read as text and cast later."""
    p = str(path).replace("'", "''")
    if path.suffix == ".parquet":
        return f"read_parquet('{p}')"
    return f"read_csv('{p}', header=true, all_varchar=true)"


def is_text(path: Path) -> bool:
    """True when the loader reads the file's columns as text (CSV)."""
    return path.suffix != ".parquet"


def first_invalid_utf8(path: Path) -> tuple[int, int, int] | None:
    """(line, column, byte value) of the first byte sequence that is not UTF-8, else None.

    Reads the file line by line (binary), so a large export never sits in memory whole.
    """
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(raw[: exc.start].decode("utf-8")) + 1
                return number, column, raw[exc.start]
    return None


_NOT_UTF8 = ("invalid unicode", "not utf-8", "utf-8 encoded", "utf8")


def read_error_message(error: BaseException, path: Path | None) -> str:
    """One line that says why a file could not be read, keeping the cause.

    DuckDB puts the cause of a CSV error on a later line ("CSV Error on Line: 2" first, then
    e.g. "Invalid unicode ... not utf-8 encoded"); a decoding error becomes
    `accounts.csv line 2, column 5: not valid UTF-8 (byte 0xE9); re-export as UTF-8`.
    """
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name = path.name if path else "file"
    if isinstance(error, UnicodeDecodeError) or any(k in text.lower() for k in _NOT_UTF8):
        where = first_invalid_utf8(path) if path is not None and path.is_file() else None
        if where:
            line, column, byte = where
            return (
                f"{name} line {line}, column {column}: not valid UTF-8 (byte 0x{byte:02X}); "
                "re-export as UTF-8"
            )
        return f"{name}: not valid UTF-8; re-export as UTF-8"
    if not lines:
        return type(error).__name__
    cause = next(
        (
            line
            for line in lines[1:]
            if not line.startswith(("Original Line", "Possible Solution", "LINE ", "^"))
            and " = " not in line
        ),
        None,
    )
    return f"{lines[0]}: {cause}" if cause else lines[0]


def column_expr(column: Column, *, safe: bool = False, text: bool = False) -> str:
    """SQL that converts one raw column to its contract type; `safe` gives NULL instead of an error.

    `text` says the raw values are text (CSV). The loader's views (CAST) and the validator
    (TRY_CAST) share this, so a file that passes validation is one the views can read.
    """
    cast = "TRY_CAST" if safe else "CAST"
    raw = f'"{column.name}"'
    if column.kind in ("string", "enum"):
        return f"CAST({raw} AS VARCHAR)"
    if column.kind == "bool":
        return f"{cast}(CAST({raw} AS VARCHAR) AS BOOLEAN)"
    if column.kind == "timestamp" and text:
        # Text goes via TIMESTAMPTZ (session time zone UTC) so an offset like +02:00 is
        # converted to UTC (a plain CAST drops it); naive text is UTC already. Typed Parquet
        # values cast directly: TIMESTAMPTZ -> UTC, TIMESTAMP is UTC already.
        return f"{cast}({cast}({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"{cast}({raw} AS {DUCKDB_TYPES[column.kind]})"


def typed_select(table: Table, source: str, *, text: bool = False) -> str:
    """SELECT that casts each contract column to its DuckDB type (extra columns dropped)."""
    cols = [f'{column_expr(c, text=text)} AS "{c.name}"' for c in table.columns]
    return f"SELECT {', '.join(cols)} FROM {source}"


def new_connection(
    *, threads: int | None = None, engine: EngineSettings | None = None
) -> duckdb.DuckDBPyConnection:
    """The one DuckDB connection factory: in memory, UTC, no progress bars, no views yet.

    `engine` (default: the built-in `EngineSettings`) caps DuckDB's memory; above the cap it
    spills to its temp folder instead of growing, so a 1M-contact job fits a small machine.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # No progress bars in batch logs. Inside Jupyter DuckDB refuses the setting unless
    # ipywidgets is installed; bars are harmless there.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    apply_engine(con, engine if engine is not None else EngineSettings())
    return con


def apply_engine(con: duckdb.DuckDBPyConnection, engine: EngineSettings) -> None:
    """memory_limit (null: DuckDB's own, 80% of RAM) and the folder DuckDB spills to."""
    if engine.duckdb_memory_limit is not None:
        con.execute("SET memory_limit = ?", [engine.duckdb_memory_limit.strip()])
    # DuckDB's default spill folder is `.tmp` in the working folder: not a cron job's place.
    # The folder is made here so DuckDB never deletes it under another connection; its files
    # are named per process and connection.
    temp = Path(engine.duckdb_temp_dir or Path(tempfile.gettempdir()) / "advocacy-duckdb")
    temp.mkdir(parents=True, exist_ok=True)
    con.execute("SET temp_directory = ?", [str(temp)])


def connect(
    data_dir: Path | str, *, threads: int | None = None, engine: EngineSettings | None = None
) -> duckdb.DuckDBPyConnection:
    """A fresh connection (`new_connection`) with a typed view per input table."""
    con = new_connection(threads=threads, engine=engine)
    register_views(con, data_dir)
    return con


def register_views(con: duckdb.DuckDBPyConnection, data_dir: Path | str) -> None:
    """A view per required table (a missing file raises), plus each optional table present."""
    present = [n for n in OPTIONAL_TABLES if has_table_file(data_dir, n)]
    tables = {**TABLES, **{n: OPTIONAL_TABLES[n] for n in present}}
    for name, table in tables.items():
        path = find_table_file(data_dir, name)
        select = typed_select(table, source_sql(path), text=is_text(path))
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {select}')
    log.debug("registered %d table views over %s", len(tables), data_dir)


def has_table_file(data_dir: Path | str, table: str) -> bool:
    """True when the folder holds a file for `table` (how an optional table is switched on)."""
    return any((Path(data_dir) / f"{table}.{fmt}").exists() for fmt in FORMATS)


def file_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names in the file's header or schema; raises duckdb.Error when unreadable."""
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source_sql(path)}").fetchall()]


def iter_frames(
    con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """The query's rows as pandas frames of at most `batch_rows` rows (all at once if None).

    Streams through Arrow record batches, so a 100M-row file never sits in memory whole.
    """
    if batch_rows is None:
        yield con.sql(sql).to_arrow_table().to_pandas(date_as_object=False)
        return
    for batch in con.sql(sql).to_arrow_reader(batch_rows):
        yield batch.to_pandas(date_as_object=False)
