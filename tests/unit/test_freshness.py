"""Freshness at as_of, part of the contract report: stale tables and unclosable label windows
fail with one line each (table, column, newest row, as_of, allowed age, the setting).

Uses the tiny hand-made world of tests/contract_worlds.py, which is fresh at AS_OF.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from advocacy.data_contracts.freshness import label_window_rule, staleness_rule
from advocacy.data_contracts.tables import TABLES
from advocacy.data_contracts.validate import validate_folder
from advocacy.settings import DEFAULT_MAX_STALENESS_DAYS, Settings
from tests.contract_worlds import AS_OF, valid_frames, write_folder

TIME_KINDS = ("date", "timestamp")


def _validate(frames, tmp_path: Path, settings: Settings | None = None, **kwargs):
    folder = write_folder(frames, tmp_path / "data")
    kwargs.setdefault("as_of", AS_OF)
    return validate_folder(folder, settings or Settings(), write_docs=False, **kwargs)


def _shift(frame: pd.DataFrame, table: str, days: int) -> pd.DataFrame:
    """Every date/timestamp column of the table moved `days` earlier (pair rules still hold)."""
    frame = frame.copy()
    for c in TABLES[table].columns:
        if c.kind in TIME_KINDS:
            moved = pd.to_datetime(frame[c.name]) - pd.Timedelta(days=days)
            frame[c.name] = moved.dt.date if c.kind == "date" else moved
    return frame


def _no_staleness() -> Settings:
    return Settings(validation={"max_staleness_days": dict.fromkeys(TABLES)})


def _lines(report, table: str) -> list[str]:
    return [line for line in report.to_text().splitlines() if f"FAIL  {table}." in line]


def test_fresh_world_runs_every_freshness_check(tmp_path):
    report = _validate(valid_frames(), tmp_path)
    assert report.ok, report.to_text()
    rules = {(t.table, c.column, c.rule) for t in report.tables for c in t.checks}
    for name, table in TABLES.items():
        limit = DEFAULT_MAX_STALENESS_DAYS[name]
        assert (name, table.time_column, staleness_rule(limit)) in rules
    assert ("advocacy_activities", "requested_at", label_window_rule(Settings())) in rules
    assert f"ok    occurred_at  {staleness_rule(7)}" in report.to_text()


def test_without_as_of_no_freshness_check_runs(tmp_path):
    frames = valid_frames()
    frames["usage_events"] = _shift(frames["usage_events"], "usage_events", 400)
    report = _validate(frames, tmp_path, as_of=None, tables=["usage_events"])
    assert report.ok and all("as_of" not in c.rule for c in report.table("usage_events").checks)


@pytest.mark.parametrize("table", list(TABLES))
def test_stale_table_fails_with_one_line(table, tmp_path):
    limit = DEFAULT_MAX_STALENESS_DAYS[table]
    frames = valid_frames()
    frames[table] = _shift(frames[table], table, limit + 10)
    report = _validate(frames, tmp_path, tables=[table])

    spec = TABLES[table]
    column = spec.time_column
    assert [(f.table, f.column, f.rule) for f in report.failures] == [
        (table, column, staleness_rule(limit))
    ]
    ts = pd.to_datetime(frames[table][column])
    if spec.fallback_time_column:
        ts = ts.fillna(pd.to_datetime(frames[table][spec.fallback_time_column]))
    newest = ts[ts < pd.Timestamp(AS_OF)].max()
    shown = newest.date().isoformat() if newest == newest.normalize() else str(newest)
    (line,) = _lines(report, table)
    assert line.startswith(
        f"  FAIL  {table}.{column}  {staleness_rule(limit)}  "
        f"newest {column} before as_of {AS_OF} is {shown}, "
    )
    assert line.endswith(f" days old; allowed {limit} days (validation.max_staleness_days.{table})")
    age = (pd.Timestamp(AS_OF) - newest).total_seconds() / 86400
    assert f", {age:.0f} days old" in line or f", {age:.1f} days old" in line
    assert f"{table}  [{table}.parquet]" in report.to_text()


def test_usage_staleness_names_newest_row_and_age(tmp_path):
    settings = Settings(validation={"max_staleness_days": {"usage_events": 3}})
    report = _validate(valid_frames(), tmp_path, settings, tables=["usage_events"])
    (failure,) = report.failures
    assert failure.detail == (
        f"newest occurred_at before as_of {AS_OF} is 2025-03-21 13:00:00, 3.5 days old; "
        "allowed 3 days (validation.max_staleness_days.usage_events)"
    )
    settings = Settings(validation={"max_staleness_days": {"usage_events": 4}})
    assert _validate(valid_frames(), tmp_path / "b", settings, tables=["usage_events"]).ok


def test_rows_after_as_of_do_not_make_a_table_fresh(tmp_path):
    frames = valid_frames()
    usage = _shift(frames["usage_events"], "usage_events", 30)
    late = usage.assign(occurred_at=pd.Timestamp(AS_OF) + pd.Timedelta(days=2))
    frames["usage_events"] = pd.concat([usage, late.head(1)], ignore_index=True)
    report = _validate(frames, tmp_path, tables=["usage_events"])
    (failure,) = report.failures
    assert "is 2025-02-19 13:00:00, 33.5 days old; allowed 7 days" in failure.detail


def test_null_turns_a_table_check_off(tmp_path):
    frames = valid_frames()
    frames["usage_events"] = _shift(frames["usage_events"], "usage_events", 400)
    settings = Settings(validation={"max_staleness_days": {"usage_events": None}})
    report = _validate(frames, tmp_path, settings, tables=["usage_events"])
    assert report.ok
    assert all("newest row" not in c.rule for c in report.table("usage_events").checks)


def test_as_of_before_the_data_begins_fails_every_table(tmp_path):
    early = date(2024, 12, 1)
    report = _validate(valid_frames(), tmp_path, as_of=early)
    assert not report.ok
    for name, table in TABLES.items():
        stale = [f for f in report.table(name).failures if f.rule.startswith("newest row")]
        assert len(stale) == 1, name
        assert stale[0].detail.startswith(f"no {table.time_column} before as_of {early}: the data ")
    label = next(f for f in report.failures if f.rule == label_window_rule(Settings()))
    assert label.detail == (
        f"no ask (requested_at set, not cancelled) before as_of {early}: "
        "p_advocate has no training rows"
    )


# ---------------------------------------------------------------- the p_advocate label window


def _label_failure(report):
    (failure,) = report.failures
    assert (failure.table, failure.column) == ("advocacy_activities", "requested_at")
    assert failure.rule == label_window_rule(Settings()) or "response window" in failure.rule
    assert "\n" not in failure.detail
    return failure


def test_as_of_far_past_the_data_has_no_closable_label_window(tmp_path):
    late = AS_OF + timedelta(days=800)
    report = _validate(valid_frames(), tmp_path, _no_staleness(), as_of=late)
    failure = _label_failure(report)
    assert failure.detail == (
        f"newest ask before as_of {late} is 2025-03-01 09:00:00, older than the 730-day "
        "lookback: as_of is too far past the data for any p_advocate label "
        "(windows.advocate_lookback_days)"
    )
    line = f"  FAIL  advocacy_activities.requested_at  {failure.rule}  {failure.detail}"
    assert line in report.to_text()


def test_all_asks_too_recent_for_their_response_window(tmp_path):
    settings = Settings(windows={"response_window_days": 60})
    report = _validate(valid_frames(), tmp_path, settings, tables=["advocacy_activities"])
    failure = _label_failure(report)
    assert failure.rule == label_window_rule(settings)
    assert failure.detail == (
        f"all 8 asks of the 730 days before as_of {AS_OF} were made on or after 2025-01-24: "
        "their 60-day response windows are still open (windows.response_window_days)"
    )


def test_no_asks_at_all(tmp_path):
    frames = valid_frames()
    acts = frames["advocacy_activities"]
    acts["completed_at"] = acts["completed_at"].fillna(acts["requested_at"])
    frames["advocacy_activities"] = acts.assign(requested_at=pd.NaT, status="completed")
    report = _validate(frames, tmp_path, tables=["advocacy_activities"])
    failure = _label_failure(report)
    assert failure.detail == (
        f"no ask (requested_at set, not cancelled) before as_of {AS_OF}: "
        "p_advocate has no training rows"
    )


def test_cancelled_asks_do_not_count(tmp_path):
    frames = valid_frames()
    acts = frames["advocacy_activities"]
    closed = acts["requested_at"] + pd.Timedelta(days=30) < pd.Timestamp(AS_OF)
    acts.loc[closed, "status"] = "cancelled"
    acts.loc[closed, "completed_at"] = None
    report = _validate(frames, tmp_path, tables=["advocacy_activities"])
    assert "response windows are still open" in _label_failure(report).detail


def test_empty_table_leaves_freshness_to_the_row_count_check(tmp_path):
    frames = valid_frames()
    frames["support_tickets"] = frames["support_tickets"].iloc[0:0]
    report = _validate(frames, tmp_path, tables=["support_tickets"])
    assert report.ok  # support_tickets may be empty
    (skipped,) = report.table("support_tickets").skipped
    assert skipped[1] == "no rows"
