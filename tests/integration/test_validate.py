"""validate_folder on hand-built folders: a valid one passes, and every rule can fail alone.

The folder is the tiny world of tests/contract_worlds.py (fresh at AS_OF): breaking its last
account or contact row breaks exactly one rule. Every check in the built suites gets a case
(the parametrization is derived from the suites), so a new rule can't go untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from advocacy.data_contracts.load import DataFolderError, check_data_folder
from advocacy.data_contracts.suites import FINITE_RULE, ROW_COUNT_RULE, SET_WHEN_STATUS, build_suite
from advocacy.data_contracts.tables import NUMERIC_KINDS, TABLES
from advocacy.data_contracts.validate import validate_folder
from advocacy.settings import Settings
from tests.contract_worlds import AS_OF, LAST, N, day_ts, valid_frames, write_folder


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


def _validate(folder: Path, settings: Settings, tmp_path: Path, **kwargs):
    return validate_folder(folder, settings, docs_dir=tmp_path / "docs", as_of=AS_OF, **kwargs)


def _failures(report) -> set[tuple[str, str | None, str]]:
    return {(f.table, f.column, f.rule) for f in report.failures}


# ---------------------------------------------------------------- valid folders


@pytest.fixture(scope="module", params=["parquet", "csv"])
def valid_report(request, tmp_path_factory, settings):
    tmp = tmp_path_factory.mktemp(f"valid-{request.param}")
    folder = write_folder(valid_frames(), tmp / "data", request.param)
    return validate_folder(folder, settings, docs_dir=tmp / "docs", as_of=AS_OF)


def test_valid_folder_passes(valid_report):
    assert valid_report.failures == []
    assert valid_report.ok is True
    assert [t.table for t in valid_report.tables] == list(TABLES)
    assert all(t.rows == N and t.checks_run > 0 and not t.skipped for t in valid_report.tables)
    assert "PASSED" in valid_report.to_text()


def test_data_docs_written_and_named(valid_report):
    index = valid_report.data_docs_index
    assert index is not None and index.name == "index.html" and index.is_file()
    html = index.read_text()
    assert "advocacy_activities" in html and "usage_events" in html
    assert str(index) in valid_report.to_text()
    assert valid_report.to_dict()["data_docs_index"] == str(index)


def test_report_dict_is_json_ready(valid_report):
    import json

    data = json.loads(json.dumps(valid_report.to_dict()))
    assert data["ok"] is True and data["as_of"] == AS_OF.isoformat()
    assert {t["table"] for t in data["tables"]} == set(TABLES)


# ---------------------------------------------------------------- one case per rule


@dataclass
class Broken:
    frames: dict[str, pd.DataFrame]
    failing_rows: int = 1
    column: str | None = None  # the column the failure names, if not the check's
    also: set[tuple[str, str | None, str]] = field(default_factory=set)


def _as_text(series: pd.Series) -> pd.Series:
    """The column as text (a wrong physical type in Parquet), so a bad value fits in."""
    return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)


def _set(frames, table: str, column: str, row: int, value, *, text: bool = False) -> None:
    frame = frames[table]
    if text:
        frame[column] = _as_text(frame[column])
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value


def break_rule(table: str, column: str | None, rule: str) -> Broken:
    """A copy of the valid frames in which exactly this (table, column, rule) fails."""
    frames = valid_frames()
    spec = TABLES[table]
    if rule == ROW_COUNT_RULE:  # a header-only file
        frames[table] = frames[table].iloc[0:0]
        return Broken(frames, 0)
    if column is None:  # required column present: drop the last contract column
        dropped = spec.columns[-1].name
        frames[table] = frames[table].drop(columns=[dropped])
        return Broken(frames, N, column=dropped)
    col = spec.column(column)
    broken = Broken(frames)
    # A bad requested_at reads as null, which only a completed activity may have.
    row = 0 if (table, column) == ("advocacy_activities", "requested_at") else LAST
    if rule == "not null":
        _set(frames, table, column, row, None)
    elif rule == "non-empty text":
        _set(frames, table, column, row, "")
        if col.references:
            broken.also.add((table, column, f"exists in {col.references}"))
    elif rule == "unique":
        _set(frames, table, column, row, frames[table].loc[0, column])
        broken.failing_rows = 2
    elif rule.startswith("values in set") and " when " not in rule:
        _set(frames, table, column, row, "bogus_value")
    elif rule.startswith(("between", ">=", "<=")) and col.kind in ("int", "float"):
        value = col.max_value + 1 if col.max_value is not None else col.min_value - 1
        _set(frames, table, column, row, value)
    elif rule == "looks like an e-mail address":
        _set(frames, table, column, row, "not-an-email")
    elif rule == FINITE_RULE:
        frames[table][column] = frames[table][column].astype("float64")
        frames[table].loc[row, column] = np.inf
        if col.kind == "int" and not col.nullable:  # inf is no integer: the typed value is null
            broken.also.add((table, column, "not null"))
    elif rule.startswith("is a"):
        _set(frames, table, column, row, "oops", text=True)
        if not col.nullable:
            broken.also.add((table, column, "not null"))
    elif rule.startswith("exists in"):
        _set(frames, table, column, row, "ZZZ999")
    else:
        _break_relation(frames, table, column, rule)
    return broken


def _break_relation(frames, table: str, column: str, rule: str) -> None:
    """Pair order and the status rules of advocacy_activities."""
    later, _, earlier = rule.partition(" >= ")
    if earlier:
        row = 0 if table == "advocacy_activities" else LAST
        frame = frames[table]
        frame[later] = frame[later].astype(object)
        frame.loc[row, later] = frame.loc[row, earlier] - pd.Timedelta(days=1)
        return
    status_col, status = SET_WHEN_STATUS[(table, "completed_at")]
    if rule == f"set when {status_col} is {status}":
        _set(frames, table, column, 0, None)  # a completed ask without completed_at
    elif rule == f"null when {status_col} is not {status}":
        _set(frames, table, column, LAST, day_ts(90))  # a declined ask with completed_at
    elif rule.endswith("when requested_at is null"):
        _set(frames, table, "status", 1, "declined")  # an unprompted act that isn't completed
        _set(frames, table, "completed_at", 1, None)
    else:
        raise NotImplementedError(f"no breaking case for {table}.{column}: {rule}")


def all_checks() -> list[tuple[str, str | None, str]]:
    return [
        (name, e.meta["column"], e.meta["rule"])
        for name, table in TABLES.items()
        for e in build_suite(table).expectations
    ]


@pytest.mark.parametrize(
    ("table", "column", "rule"), all_checks(), ids=lambda v: str(v).replace(" ", "_")
)
def test_each_rule_fails_alone(table, column, rule, tmp_path, settings):
    broken = break_rule(table, column, rule)
    folder = write_folder(broken.frames, tmp_path / "data")
    report = _validate(folder, settings, tmp_path, tables=[table], write_docs=False)

    assert report.ok is False
    named = broken.column or column
    assert _failures(report) == {(table, named, rule)} | broken.also
    failure = next(f for f in report.failures if (f.column, f.rule) == (named, rule))
    assert failure.failing_rows == broken.failing_rows
    assert f"{table}.{named or '(table)'}  {rule}" in report.to_text()


def test_every_table_has_its_rules():
    checks = set(all_checks())
    assert ("contacts", "account_id", "exists in accounts.account_id") in checks
    assert ("support_tickets", "contact_id", "exists in contacts.contact_id") in checks
    assert ("advocacy_activities", "completed_at", "completed_at >= requested_at") in checks
    assert ("accounts", "segment", "values in set {smb, mid_market, enterprise}") in checks
    assert ("contacts", "email", "looks like an e-mail address") in checks
    assert ("accounts", "arr", FINITE_RULE) in checks
    assert all((name, None, "required column present") in checks for name in TABLES)
    required = {name for name, table in TABLES.items() if not table.may_be_empty}
    assert {name for name, column, rule in checks if rule == ROW_COUNT_RULE} == required
    assert required == set(TABLES) - {"support_tickets"}


# ---------------------------------------------------------------- files that can't be used


def test_missing_file_is_reported(tmp_path, settings):
    folder = write_folder(valid_frames(), tmp_path / "data")
    (folder / "nps_responses.parquet").unlink()
    report = _validate(folder, settings, tmp_path, write_docs=False)
    result = report.table("nps_responses")
    assert report.ok is False and result.path is None and "missing" in result.problem
    assert all(t.ok for t in report.tables if t.table != "nps_responses")
    assert "nps_responses  [(no file)]  FAIL  missing" in report.to_text()


def test_empty_file_is_reported(tmp_path, settings):
    folder = write_folder(valid_frames(), tmp_path / "data", "csv")
    (folder / "support_tickets.csv").write_text("")
    result = _validate(folder, settings, tmp_path, write_docs=False).table("support_tickets")
    assert result.ok is False and result.problem == "file is empty"


def test_corrupt_parquet_is_reported_and_children_skip_the_reference(tmp_path, settings):
    folder = write_folder(valid_frames(), tmp_path / "data")
    (folder / "accounts.parquet").write_bytes(b"PAR1 this is not parquet")
    report = _validate(folder, settings, tmp_path, write_docs=False)
    assert report.table("accounts").problem.startswith("unreadable")
    contacts = report.table("contacts")
    assert contacts.ok
    assert any(check.rule == "exists in accounts.account_id" for check, _ in contacts.skipped)


def test_csv_missing_required_column_fails_that_table(tmp_path, settings):
    frames = valid_frames()
    frames["contacts"] = frames["contacts"].drop(columns=["persona"])
    folder = write_folder(frames, tmp_path / "data", "csv")
    report = _validate(folder, settings, tmp_path, write_docs=False)
    assert _failures(report) == {("contacts", "persona", "required column present")}
    skipped = {check.rule for check, _ in report.table("contacts").skipped}
    assert "values in set {executive, champion, admin, end_user}" in skipped


def test_csv_text_in_numeric_column_fails_with_examples(tmp_path, settings):
    frames = valid_frames()
    _set(frames, "nps_responses", "score", 3, "seven")
    _set(frames, "nps_responses", "score", 4, "7.5")
    folder = write_folder(frames, tmp_path / "data", "csv")
    report = _validate(folder, settings, tmp_path, tables=["nps_responses"])
    failure = next(f for f in report.failures if f.rule == "is an integer")
    assert (failure.table, failure.column, failure.failing_rows) == ("nps_responses", "score", 2)
    assert sorted(failure.examples) == ["7.5", "seven"]


def test_csv_text_in_timestamp_column_fails_with_examples(tmp_path, settings):
    frames = valid_frames()
    _set(frames, "usage_events", "occurred_at", 2, "yesterday")
    folder = write_folder(frames, tmp_path / "data", "csv")
    report = _validate(folder, settings, tmp_path, tables=["usage_events"])
    assert _failures(report) == {
        ("usage_events", "occurred_at", "is a timestamp (ISO 8601)"),
        ("usage_events", "occurred_at", "not null"),
    }
    failure = next(f for f in report.failures if f.rule.startswith("is a"))
    assert failure.examples == ["yesterday"]


def test_parquet_wrong_physical_type_fails_cleanly(tmp_path, settings):
    frames = valid_frames()
    frames["usage_events"]["occurred_at"] = range(N)  # epoch-like integers, not timestamps
    folder = write_folder(frames, tmp_path / "data")
    report = _validate(folder, settings, tmp_path, tables=["usage_events"])
    failure = next(f for f in report.failures if f.rule.startswith("is a"))
    assert (failure.column, failure.failing_rows) == ("occurred_at", N)
    assert failure.examples[:2] == ["0", "1"]


def test_csv_offsets_are_read_as_utc(tmp_path, settings):
    frames = valid_frames()
    _set(frames, "support_tickets", "closed_at", LAST, "2025-02-09T10:00:00+02:00")
    # opened 2025-02-09 09:00 UTC; closed 08:00 UTC once the offset is applied -> before opened
    folder = write_folder(frames, tmp_path / "data", "csv")
    report = _validate(folder, settings, tmp_path, tables=["support_tickets"])
    assert _failures(report) == {("support_tickets", "closed_at", "closed_at >= opened_at")}


def test_examples_are_capped(tmp_path):
    settings = Settings(validation={"examples_per_failure": 2})
    frames = valid_frames()
    frames["accounts"]["segment"] = [f"bad_{i}" for i in range(N)]
    folder = write_folder(frames, tmp_path / "data")
    report = _validate(folder, settings, tmp_path, tables=["accounts"])
    (failure,) = report.failures
    assert failure.failing_rows == N and len(failure.examples) == 2


def test_unknown_table_name_is_refused(tmp_path, settings):
    with pytest.raises(ValueError, match="unknown tables"):
        _validate(tmp_path, settings, tmp_path, tables=["nope"])


# ---------------------------------------------------------------- non-finite numbers

NUMERIC = [
    (name, c.name)
    for name, table in TABLES.items()
    for c in table.columns
    if c.kind in NUMERIC_KINDS
]
NONFINITE = {"inf": np.inf, "-inf": -np.inf, "nan": np.nan}


def _expected_nonfinite(table: str, column: str, texts: list[str]) -> set:
    """The finite-number failure, plus what the typed value also breaks (NaN reads as null in
    pandas, inf is no integer; -inf is below a minimum)."""
    col = TABLES[table].column(column)
    out = {(table, column, FINITE_RULE)}
    if not col.nullable and (col.kind == "int" or "nan" in texts):
        out.add((table, column, "not null"))
    if col.kind == "float" and col.min_value is not None and "-inf" in texts:
        out.add((table, column, f">= {col.min_value:g}"))
    return out


def _write_parquet_with(folder: Path, table: str, column: str, rows: dict[int, float]) -> None:
    """Rewrite one table with real NaN / inf doubles (pandas would write NaN as null)."""
    frame = valid_frames()[table]
    values = frame[column].astype("float64").to_numpy(copy=True)
    nulls = np.isnan(values)
    for row, value in rows.items():
        values[row], nulls[row] = value, False
    arrow = pa.Table.from_pandas(frame.drop(columns=[column]), preserve_index=False)
    position = list(frame.columns).index(column)
    pq.write_table(
        arrow.add_column(position, column, pa.array(values, mask=nulls)),
        folder / f"{table}.parquet",
    )


@pytest.mark.parametrize("text", list(NONFINITE))
@pytest.mark.parametrize(("table", "column"), NUMERIC)
def test_nonfinite_parquet_number_fails_naming_table_column_and_examples(
    table, column, text, tmp_path, settings
):
    folder = write_folder(valid_frames(), tmp_path / "data")
    _write_parquet_with(folder, table, column, {LAST: NONFINITE[text]})
    report = _validate(folder, settings, tmp_path, tables=[table], write_docs=False)

    assert report.ok is False
    assert _failures(report) == _expected_nonfinite(table, column, [text])
    failure = next(f for f in report.failures if f.rule == FINITE_RULE)
    assert (failure.failing_rows, failure.examples) == (1, [text])
    assert f"FAIL  {table}.{column}  {FINITE_RULE}  1 failing rows  e.g. '{text}'" in (
        report.to_text()
    )


@pytest.mark.parametrize(("table", "column"), NUMERIC)
def test_nonfinite_csv_text_fails_with_every_example(table, column, tmp_path, settings):
    frames = valid_frames()
    for row, text in zip((LAST - 2, LAST - 1, LAST), NONFINITE, strict=True):
        _set(frames, table, column, row, text, text=True)
    folder = write_folder(frames, tmp_path / "data", "csv")
    report = _validate(folder, settings, tmp_path, tables=[table], write_docs=False)

    assert _failures(report) == _expected_nonfinite(table, column, list(NONFINITE))
    failure = next(f for f in report.failures if f.rule == FINITE_RULE)
    assert failure.failing_rows == 3 and sorted(failure.examples) == sorted(NONFINITE)


def test_huge_csv_number_overflows_to_inf_and_fails(tmp_path, settings):
    frames = valid_frames()
    _set(frames, "accounts", "arr", LAST, "1e400", text=True)
    folder = write_folder(frames, tmp_path / "data", "csv")
    report = _validate(folder, settings, tmp_path, tables=["accounts"], write_docs=False)
    assert _failures(report) == {("accounts", "arr", FINITE_RULE)}


# ---------------------------------------------------------------- empty tables


@pytest.mark.parametrize("table", list(TABLES))
def test_header_only_csv_fails_unless_the_table_may_be_empty(table, tmp_path, settings):
    frames = valid_frames()
    frames[table] = frames[table].iloc[0:0]
    folder = write_folder(frames, tmp_path / "data", "csv")
    assert (folder / f"{table}.csv").read_text().count("\n") == 1  # the header only
    report = _validate(folder, settings, tmp_path, tables=[table], write_docs=False)

    if TABLES[table].may_be_empty:
        assert report.ok, report.to_text()
        return
    assert _failures(report) == {(table, None, ROW_COUNT_RULE)}
    line = f"  FAIL  {table}.(table)  {ROW_COUNT_RULE}  the file has no rows; {table} must not"
    assert line in report.to_text()


# ---------------------------------------------------------------- the folder itself


def test_missing_data_folder_is_one_error_raised_once(tmp_path, settings):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataFolderError) as info:
        _validate(missing, settings, tmp_path)
    message = str(info.value)
    assert message == f"data folder does not exist: {missing}"
    assert info.value.table is None and info.value.path == missing
    assert not (tmp_path / "docs").exists()  # nothing started


def test_check_data_folder_is_cheap_and_names_the_problem(tmp_path):
    with pytest.raises(DataFolderError, match=r"^data folder does not exist: "):
        check_data_folder(tmp_path / "nope")
    a_file = tmp_path / "accounts.csv"
    a_file.write_text("x\n")
    with pytest.raises(DataFolderError, match="is a file, not a folder"):
        check_data_folder(a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFolderError, match="holds none of the 6 input tables") as info:
        check_data_folder(empty)
    assert "\n" not in str(info.value) and "usage_events.parquet|csv" in str(info.value)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "accounts.parquet").write_bytes(b"not parquet")  # not opened here
    assert check_data_folder(garbage) == garbage


def test_data_docs_go_where_asked_not_into_the_working_folder(tmp_path, settings, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = write_folder(valid_frames(), tmp_path / "data")
    docs = tmp_path / "elsewhere" / "docs"
    report = validate_folder(folder, settings, docs_dir=docs, as_of=AS_OF, tables=["accounts"])
    assert report.data_docs_index == (docs / "index.html").resolve()
    assert report.data_docs_index.is_file()
    assert not (tmp_path / settings.validation.data_docs_dir).exists()


# ---------------------------------------------------------------- file encodings


def test_latin1_csv_names_file_line_and_fix(tmp_path, settings):
    frames = valid_frames()
    frames["accounts"].loc[2, "name"] = "Société Générale"
    folder = write_folder(frames, tmp_path / "data", "csv")
    path = folder / "accounts.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    report = _validate(folder, settings, tmp_path, write_docs=False)

    problem = report.table("accounts").problem
    assert problem == (
        "unreadable: accounts.csv line 4, column 10: not valid UTF-8 (byte 0xE9); "
        "re-export as UTF-8"
    )
    assert f"accounts  [accounts.csv]  FAIL  {problem}" in report.to_text()


def test_latin1_byte_past_the_csv_sniffer_sample_keeps_its_cause(tmp_path, settings):
    """DuckDB sniffs the first rows only; a bad byte further down fails while reading."""
    frames = valid_frames()
    rows = 30_000
    usage = pd.concat([frames["usage_events"]] * (rows // N), ignore_index=True)
    usage.loc[rows - 1, "event"] = "café_opened"
    frames["usage_events"] = usage
    folder = write_folder(frames, tmp_path / "data", "csv")
    path = folder / "usage_events.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    report = _validate(folder, settings, tmp_path, tables=["usage_events"], write_docs=False)

    problem = report.table("usage_events").problem
    assert problem.startswith(f"unreadable: usage_events.csv line {rows + 1}, column ")
    assert problem.endswith("not valid UTF-8 (byte 0xE9); re-export as UTF-8")


# ---------------------------------------------------------------- batches and generated worlds


def test_large_table_is_validated_in_batches(tmp_path):
    """usage_events in batches of 1000 rows: failing rows add up, examples come from the start."""
    settings = Settings(validation={"batch_rows": 1000, "examples_per_failure": 3})
    frames = valid_frames()
    rows = 2500
    usage = pd.concat([frames["usage_events"]] * (rows // N), ignore_index=True)
    bad = [5, 1500, 2400]  # one in each batch
    usage["event"] = usage["event"].astype(object)
    usage.loc[bad, "event"] = None
    usage["contact_id"] = usage["contact_id"].astype(object)
    usage.loc[[7, 1007, 2007], "contact_id"] = ["ZZ1", "ZZ2", "ZZ3"]
    frames["usage_events"] = usage
    folder = write_folder(frames, tmp_path / "data")
    report = _validate(folder, settings, tmp_path, tables=["usage_events"])

    result = report.table("usage_events")
    assert result.rows == rows
    by_rule = {f.rule: f for f in result.failures}
    assert set(by_rule) == {"not null", "exists in contacts.contact_id"}
    assert by_rule["not null"].failing_rows == len(bad)
    orphans = by_rule["exists in contacts.contact_id"]
    assert orphans.failing_rows == 3 and sorted(orphans.examples) == ["ZZ1", "ZZ2", "ZZ3"]
    assert "usage_events" in report.data_docs_index.read_text()


def test_generated_parquet_world_passes(world_dir, as_of, tmp_path, settings):
    report = validate_folder(world_dir, settings, docs_dir=tmp_path / "docs", as_of=as_of)
    assert report.failures == [] and report.ok, report.to_text()
    assert report.table("usage_events").rows > report.table("contacts").rows


def test_generated_csv_world_passes(as_of, tmp_path, settings):
    from advocacy.synthetic.world import generate

    folder = tmp_path / "world"
    generate(folder, contacts=1000, seed=5, as_of=as_of, fmt="csv")
    report = validate_folder(folder, settings, as_of=as_of, write_docs=False)
    assert report.failures == [] and report.ok, report.to_text()
    assert all(t.path.suffix == ".csv" for t in report.tables)


def test_gx_does_not_hash_every_frame_and_the_engine_is_left_as_found(
    tmp_path, settings, monkeypatch
):
    """GX's pandas engine md5s each batch for an informational marker (4 s of 16 at 1M
    contacts); validation skips it (the inputs are fingerprinted by file) and restores GX."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    calls = []
    real = engine.hash_pandas_dataframe
    monkeypatch.setattr(engine, "hash_pandas_dataframe", lambda df: calls.append(1) or real(df))
    threshold = engine.HASH_THRESHOLD
    folder = write_folder(valid_frames(), tmp_path / "data", "parquet")
    assert _validate(folder, settings, tmp_path).ok
    assert calls == [] and engine.HASH_THRESHOLD == threshold > 0
