"""What the run read: per table its file, checksum, rows, and how fresh the data is at T.

Feeds run.json ("input row counts") and the report's data-freshness section.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from advocacy.data_contracts.load import find_table_file
from advocacy.data_contracts.tables import TABLES


@dataclass(frozen=True)
class TableProfile:
    table: str
    file: str
    sha256: str
    rows: int
    rows_before_as_of: int
    latest_before_as_of: str | None  # ISO time of the newest row before T
    days_since_latest: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Checksum of a file, read in chunks so a 1 GB usage export never sits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def profile_tables(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path | str,
    as_of: date,
    hasher: Callable[[Path], str] = sha256_of,
) -> list[TableProfile]:
    """One profile per input table; `hasher(path)` gives the file checksum."""
    t0 = datetime.combine(as_of, datetime.min.time())
    out = []
    for name, table in TABLES.items():
        path = find_table_file(data_dir, name)
        ts = f'CAST("{table.time_column}" AS TIMESTAMP)'
        if table.fallback_time_column:
            ts = f'coalesce({ts}, CAST("{table.fallback_time_column}" AS TIMESTAMP))'
        rows, before, latest = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {ts} < $t), "
            f'max({ts}) FILTER (WHERE {ts} < $t) FROM "{name}"',
            {"t": t0},
        ).fetchone()
        age = (t0 - latest).total_seconds() / 86400 if latest is not None else None
        out.append(
            TableProfile(
                table=name,
                file=str(path),
                sha256=hasher(path),
                rows=int(rows),
                rows_before_as_of=int(before),
                latest_before_as_of=latest.isoformat() if latest is not None else None,
                days_since_latest=round(age, 2) if age is not None else None,
            )
        )
    return out
