"""The pushed-down checks (one DuckDB aggregate per table) give the report GX gives.

Each case breaks one rule of the tiny contract world (tests/contract_worlds.py) and validates
the table both ways: GX on pandas frames, and its suite's SQL twins in DuckDB. The failures
(column, rule, failing rows, examples), the text lines and the freshness checks must agree.
One case per kind of expectation keeps this fast; usage_events (pushed down by default) gets
every one of its rules.
"""

from __future__ import annotations

import pytest

from advocacy.data_contracts.suites import TABLE_LEVEL_TYPES, build_suite, load_suite_dict, rule_sql
from advocacy.data_contracts.tables import TABLES
from advocacy.data_contracts.validate import PUSHDOWN_DEFAULT, validate_folder
from advocacy.settings import Settings
from tests.contract_worlds import AS_OF, valid_frames, write_folder
from tests.integration.test_validate import all_checks, break_rule


def _cases() -> list[tuple[str, str | None, str]]:
    """Every usage_events rule, plus the first rule of each other expectation kind."""
    seen, out = set(), []
    for name, table in TABLES.items():
        for e in build_suite(table).expectations:
            kind = (e.expectation_type, bool(getattr(e, "row_condition", None)))
            if name == "usage_events" or kind not in seen:
                seen.add(kind)
                out.append((name, e.meta["column"], e.meta["rule"]))
    return out


def _same(value):
    """An example as compared: numbers as floats (pandas shows a nullable int 0 as 0.0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return str(value)


def _failures(report):
    return sorted(
        (f.table, f.column, f.rule, f.failing_rows, tuple(map(_same, f.examples)))
        for f in report.failures
    )


def test_the_large_table_is_pushed_down_by_default():
    assert {"usage_events"} == PUSHDOWN_DEFAULT


def test_every_committed_expectation_has_an_sql_twin():
    for name in TABLES:
        for e in load_suite_dict(name)["expectations"]:
            if e["type"] not in TABLE_LEVEL_TYPES:
                assert rule_sql(e).bad, (name, e["meta"])


def test_cases_cover_usage_events_and_other_kinds():
    cases = _cases()
    assert {c for c in all_checks() if c[0] == "usage_events"} <= set(cases)
    assert ("advocacy_activities", "completed_at", "set when status is completed") in cases
    assert any(rule == "unique" for _, _, rule in cases)


@pytest.mark.parametrize(
    ("table", "column", "rule"), _cases(), ids=lambda v: str(v).replace(" ", "_")
)
def test_pushed_down_rule_fails_like_gx(table, column, rule, tmp_path):
    settings = Settings()
    folder = write_folder(break_rule(table, column, rule).frames, tmp_path / "data")
    kwargs = {"as_of": AS_OF, "tables": [table], "write_docs": False}
    pushed = validate_folder(folder, settings, pushdown=[table], **kwargs)
    by_gx = validate_folder(folder, settings, pushdown=[], **kwargs)

    assert pushed.ok is False
    assert _failures(pushed) == _failures(by_gx)
    assert any(f.rule == rule for f in pushed.failures)
    lines = {line.split("  e.g. ")[0] for line in pushed.to_text().splitlines()}
    assert lines == {line.split("  e.g. ")[0] for line in by_gx.to_text().splitlines()}


def test_pushed_down_valid_world_passes_with_data_docs_and_freshness(tmp_path):
    folder = write_folder(valid_frames(), tmp_path / "data")
    report = validate_folder(
        folder, Settings(), docs_dir=tmp_path / "docs", as_of=AS_OF, pushdown=list(TABLES)
    )
    assert report.ok, report.to_text()
    usage = report.table("usage_events")
    assert any("days old" in c.rule for c in usage.checks)  # freshness from the same pass
    html = report.data_docs_index.read_text()
    assert "usage_events" in html and "advocacy_activities" in html


def test_pushed_down_stale_table_fails_with_the_same_line(tmp_path):
    settings = Settings(validation={"max_staleness_days": {"usage_events": 1}})
    frames = valid_frames()
    frames["usage_events"]["occurred_at"] -= frames["usage_events"]["occurred_at"].max() - (
        frames["usage_events"]["occurred_at"].min()
    )
    folder = write_folder(frames, tmp_path / "data")
    kwargs = {"as_of": AS_OF, "tables": ["usage_events"], "write_docs": False}
    pushed = validate_folder(folder, settings, **kwargs)
    by_gx = validate_folder(folder, settings, pushdown=[], **kwargs)
    assert [f.detail for f in pushed.failures] == [f.detail for f in by_gx.failures]
    assert pushed.failures and "days old" in pushed.failures[0].detail


def test_unknown_pushdown_table_is_refused(tmp_path):
    folder = write_folder(valid_frames(), tmp_path / "data")
    with pytest.raises(ValueError, match="unknown tables"):
        validate_folder(folder, Settings(), pushdown=["usage"], write_docs=False)
