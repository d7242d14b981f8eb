"""ValidationReport text and JSON: short OK lines, failures with rows and capped examples."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from advocacy.data_contracts.report import (
    Check,
    CheckFailure,
    TableResult,
    ValidationReport,
    json_value,
)


def _report() -> ValidationReport:
    accounts = TableResult(
        "accounts",
        Path("/d/accounts.parquet"),
        rows=3,
        checks=[Check(None, "required column present"), Check("segment", "values in set {smb}")],
        failures=[CheckFailure("accounts", "segment", "values in set {smb}", 2, ["a", "b", "c"])],
    )
    contacts = TableResult(
        "contacts",
        Path("/d/contacts.csv"),
        rows=5,
        checks=[Check(None, "required column present"), Check("email", "not null")],
        failures=[CheckFailure("contacts", "persona", "required column present", 5)],
        skipped=[(Check("persona", "not null"), "column persona missing")],
    )
    missing = TableResult("nps_responses", None, problem="missing: expected nps_responses.csv")
    return ValidationReport(
        Path("/d"),
        [accounts, contacts, missing],
        as_of=date(2026, 11, 23),
        data_docs_index=Path("/docs/index.html"),
        examples_per_failure=2,
    )


def test_text_lists_every_check_and_caps_examples():
    text = _report().to_text()
    assert text.splitlines()[0] == (
        "Input contract check of /d, as_of 2026-11-23: FAILED (3 of 3 tables)"
    )
    assert "  ok    (table)  required column present" in text
    assert "  FAIL  accounts.segment  values in set {smb}  2 failing rows  e.g. 'a', 'b'" in text
    assert "'c'" not in text
    assert "  FAIL  contacts.persona  required column present  5 failing rows" in text
    assert "  ok    email  not null" in text
    assert "  skip  persona  not null  (column persona missing)" in text
    assert "nps_responses  [(no file)]  FAIL  missing" in text
    assert text.endswith("Data Docs: /docs/index.html")


def test_ok_only_when_every_table_is_clean():
    report = _report()
    assert not report.ok
    assert [t.ok for t in report.tables] == [False, False, False]
    clean = TableResult("accounts", Path("a.csv"), rows=1, checks=[Check("x", "not null")])
    assert ValidationReport(Path("/d"), [clean]).ok


def test_dict_is_json_ready():
    data = json.loads(json.dumps(_report().to_dict()))
    assert data["ok"] is False and data["data_docs_index"] == "/docs/index.html"
    accounts = data["tables"][0]
    assert accounts["checks_run"] == 2 and accounts["failures"][0]["failing_rows"] == 2
    assert data["tables"][2]["problem"].startswith("missing")


def test_json_value_handles_gx_example_types():
    assert json_value(np.int64(3)) == 3
    assert json_value(np.float64(np.nan)) is None
    assert json_value(pd.NaT) is None
    assert json_value(pd.Timestamp("2025-01-02 03:04:05")) == "2025-01-02T03:04:05"
    assert json_value(np.datetime64("2025-01-02T03:04:05")) == "2025-01-02T03:04:05"
    assert json_value((datetime(2025, 1, 1), date(2025, 1, 2))) == [
        "2025-01-01T00:00:00",
        "2025-01-02",
    ]
    assert json_value(np.bool_(True)) is True


def test_a_detail_replaces_the_row_count_on_one_line():
    stale = CheckFailure(
        "usage_events",
        "occurred_at",
        "newest row before as_of at most 7 days old",
        0,
        detail="newest occurred_at before as_of 2026-11-23 is 2024-11-20, 733 days old; "
        "allowed 7 days (validation.max_staleness_days.usage_events)",
    )
    result = TableResult(
        "usage_events",
        Path("/d/usage_events.parquet"),
        rows=3,
        checks=[Check("occurred_at", stale.rule)],
        failures=[stale],
    )
    text = ValidationReport(Path("/d"), [result]).to_text()
    (line,) = [line for line in text.splitlines() if "FAIL  usage_events.occurred_at" in line]
    assert line == f"  FAIL  usage_events.occurred_at  {stale.rule}  {stale.detail}"
    assert "failing rows" not in text
    assert stale.to_dict()["detail"] == stale.detail
    assert CheckFailure("a", "b", "c", 1).to_dict()["detail"] is None
