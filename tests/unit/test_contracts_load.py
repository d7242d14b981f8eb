"""Loader pieces the validator shares: type conversion, header reading, batched frames."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from data_contracts.load import column_expr, file_columns, iter_frames
from data_contracts.tables import Column


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
