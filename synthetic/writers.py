"""Write contract tables as Parquet or CSV, in batches, appearing only when complete.

Parquet keeps Arrow types (timestamp[us] naive, date32, bool, int64); CSV gets ISO text
(`2024-05-06T14:03:00`, `2024-05-06`), a header row, UTF-8 and empty fields for nulls.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from advocacy.data_contracts.load import FORMATS
from advocacy.data_contracts.tables import Table
from advocacy.synthetic.frames import arrow_schema, usage_table

log = logging.getLogger(__name__)

Format = Literal["parquet", "csv"]
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"
PARQUET_COMPRESSION = "zstd"


def _csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO text with a 'T' (Arrow's CSV writer would use a space)."""
    cols = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format=ISO_SECONDS)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema]
    )


class TableWriter:
    """Writes one contract table to `<out_dir>/<table>.<fmt>` batch by batch.

    Data goes to a temporary file that replaces the target on `close`, so a reader never
    sees half a table. A file of the same table in the other format is removed, because
    the loader would prefer a stale Parquet file over a fresh CSV.
    """

    def __init__(self, out_dir: Path, table: Table, fmt: Format) -> None:
        self.path = out_dir / f"{table.name}.{fmt}"
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._others = [out_dir / f"{table.name}.{f}" for f in FORMATS if f != fmt]
        self._fmt = fmt
        self.schema = arrow_schema(table)
        self.rows = 0
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression=PARQUET_COMPRESSION)
        else:
            self._writer = pa_csv.CSVWriter(self._tmp, _csv_schema(self.schema))

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.cast(self.schema)
        self._writer.write_table(_csv_ready(table) if self._fmt == "csv" else table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        os.replace(self._tmp, self.path)
        for other in self._others:
            if other.exists():
                log.warning("removing %s: it would shadow the new %s", other, self.path.name)
                other.unlink()
        log.info("wrote %s rows to %s", f"{self.rows:,}", self.path)

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(out_dir: Path, table: Table, data: pa.Table, fmt: Format) -> int:
    """Write a whole table at once; returns the row count."""
    with TableWriter(out_dir, table, fmt) as writer:
        writer.write(data)
    return writer.rows


class UsageBuffer:
    """Collects weekly usage arrays and writes them in chunks of about `chunk_rows` rows,
    turning contact indices into ids only for the chunk being written."""

    def __init__(self, writer: TableWriter, contact_ids: pa.Array, chunk_rows: int) -> None:
        self._writer, self._ids, self._chunk_rows = writer, contact_ids, chunk_rows
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._buffered = 0

    def __call__(self, contact: np.ndarray, sec: np.ndarray, code: np.ndarray) -> None:
        self._parts.append((contact, sec, code))
        self._buffered += len(contact)
        if self._buffered >= self._chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self._parts:
            return
        contact, sec, code = (np.concatenate(cols) for cols in zip(*self._parts, strict=True))
        self._parts, self._buffered = [], 0
        self._writer.write(usage_table(contact, sec, code, self._ids))
