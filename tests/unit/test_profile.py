"""Input profile for run.json and the report: rows before T, freshness, checksums."""

from __future__ import annotations

from datetime import date

from advocacy.data_contracts.load import connect
from advocacy.data_contracts.profile import profile_tables
from tests.worlds import cut_at


def test_profile_counts_rows_before_as_of_and_freshness(world_dir, tmp_path):
    as_of = date(2026, 6, 1)
    full = {p.table: p for p in profile_tables(connect(world_dir), world_dir, as_of, lambda p: "x")}
    cut_dir = cut_at(world_dir, tmp_path / "cut", as_of)
    cut = {p.table: p for p in profile_tables(connect(cut_dir), cut_dir, as_of, lambda p: "x")}
    for table, prof in full.items():
        assert prof.rows_before_as_of == cut[table].rows == cut[table].rows_before_as_of, table
        assert prof.rows > prof.rows_before_as_of, table
        assert prof.latest_before_as_of < "2026-06-01", table
        assert prof.latest_before_as_of == cut[table].latest_before_as_of
        assert prof.days_since_latest > 0
    assert full["usage_events"].sha256 == "x"
