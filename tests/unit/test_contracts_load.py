"""Loader pieces the validator shares: type conversion, header reading, batched frames."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from advocacy.data_contracts.load import (
    DataFolderError,
    column_expr,
    file_columns,
    first_invalid_utf8,
    iter_frames,
    read_error_message,
)
from advocacy.data_contracts.tables import Column


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


def _convert(con, column: Column, raw, *, text: bool, safe: bool = False):
    sql = f'SELECT {column_expr(column, safe=safe, text=text)} FROM (SELECT ? AS "{column.name}")'
    return con.execute(sql, [raw]).fetchone()[0]


def test_text_timestamps_with_offsets_become_utc(con):
    ts = Column("t", "timestamp")
    assert _convert(con, ts, "2025-02-09T10:00:00+02:00", text=True) == datetime(2025, 2, 9, 8)
    assert _convert(con, ts, "2025-02-09T10:00:00Z", text=True) == datetime(2025, 2, 9, 10)
    assert _convert(con, ts, "2025-02-09 10:00:00", text=True) == datetime(2025, 2, 9, 10)


def test_safe_conversion_gives_null_instead_of_an_error(con):
    assert _convert(con, Column("n", "int"), "seven", text=True, safe=True) is None
    assert _convert(con, Column("t", "timestamp"), "soon", text=True, safe=True) is None
    with pytest.raises(duckdb.Error):
        _convert(con, Column("n", "int"), "seven", text=True)


def test_file_columns_reads_headers_and_refuses_garbage(con, tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("x,y\n1,2\n")
    assert file_columns(con, csv) == ["x", "y"]
    bad = tmp_path / "b.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(duckdb.Error):
        file_columns(con, bad)


def test_iter_frames_streams_in_batches(con):
    sizes = [len(f) for f in iter_frames(con, "SELECT * FROM range(2500)", 1000)]
    assert sizes == [1000, 1000, 500]
    (whole,) = iter_frames(con, "SELECT DATE '2025-01-02' AS d")
    assert isinstance(whole, pd.DataFrame) and str(whole["d"].dtype).startswith("datetime64")


def test_first_invalid_utf8_finds_line_column_and_byte(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("id,name\nA1,Zoë\n".encode() + "A2,Société\n".encode("latin-1"))
    assert first_invalid_utf8(path) == (3, 8, 0xE9)
    clean = tmp_path / "b.csv"
    clean.write_text("id,name\nA1,Zoë\n", encoding="utf-8")
    assert first_invalid_utf8(clean) is None


def test_read_error_message_keeps_the_cause(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes(b"id,name\nA1,Soci\xe9t\xe9\n")
    duck = duckdb.InvalidInputException(
        "Invalid Input Error: CSV Error on Line: 2\nOriginal Line: A1,Soci?t?\n"
        "Invalid unicode (byte sequence mismatch) detected. This file is not utf-8 encoded.\n\n"
        "Possible Solution: Set the correct encoding\n  file = accounts.csv\n"
    )
    expected = "accounts.csv line 2, column 8: not valid UTF-8 (byte 0xE9); re-export as UTF-8"
    assert read_error_message(duck, path) == expected
    decode = UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")
    assert read_error_message(decode, path) == expected
    other = duckdb.InvalidInputException(
        "Invalid Input Error: CSV Error on Line: 7\nOriginal Line: a,b,c\n"
        "Expected Number of Columns: 2 Found: 3\n\nPossible Solution: x\n  delimiter = ,\n"
    )
    assert read_error_message(other, path) == (
        "Invalid Input Error: CSV Error on Line: 7: Expected Number of Columns: 2 Found: 3"
    )
    assert read_error_message(duckdb.IOException(""), path) == "IOException"


def test_data_folder_error_is_one_line():
    folder = DataFolderError(None, Path("/d"), "data folder does not exist")
    assert str(folder) == "data folder does not exist: /d" and folder.table is None
    table = DataFolderError("accounts", None, "missing: expected accounts.parquet or accounts.csv")
    assert (
        str(table)
        == "table accounts: missing: expected accounts.parquet or accounts.csv [(no file)]"
    )
