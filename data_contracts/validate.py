"""Check a data folder against the input contract: GX suites, run by GX or pushed to DuckDB.

First the folder itself (`check_data_folder`: one `DataFolderError`, raised). Then per table:
find and open the file (missing, empty or unreadable files are reported, never raised) and
build the typed check frame with its derived columns (`check_frame_sql`, `suites.py`). Then
either way of running the table's committed suite (docs/contracts.md, "How the checks run"):

- GX (the small tables): the frame is read into pandas and validated by an ephemeral GX
  context; a table read in batches (`settings.validation.batch_rows`) merges the batch results.
- pushed down (the large tables, `Table.large`: usage_events): every expectation's SQL twin
  (`suites.rule_sql`) and the freshness facts are counted in ONE DuckDB aggregate over the
  frame, plus one query for the first examples when something fails. GX still runs, on the
  empty frame, to give the result its shape; the exact counts are filled in, so the report,
  the Data Docs and the exit codes are those GX would give, at the cost of one scan.

With an `as_of`, the same pass feeds the freshness checks (`freshness.py`). The results are
rendered as GX Data Docs (HTML) into `docs_dir`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import great_expectations as gx
import pandas as pd
import pyarrow as pa
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import pandas_execution_engine

from advocacy.data_contracts.freshness import TimeScan, with_freshness
from advocacy.data_contracts.load import (
    DataFolderError,
    check_data_folder,
    column_expr,
    file_columns,
    find_table_file,
    has_table_file,
    is_text,
    iter_frames,
    new_connection,
    read_error_message,
    source_sql,
)
from advocacy.data_contracts.report import (
    Check,
    CheckFailure,
    TableResult,
    ValidationReport,
    json_value,
)
from advocacy.data_contracts.suites import (
    TABLE_LEVEL_TYPES,
    TYPE_RULES,
    RuleSQL,
    load_suite_dict,
    nonfinite_column,
    orphan_column,
    rule_sql,
    unparsed_column,
)
from advocacy.data_contracts.tables import (
    CONTRACT_TABLES,
    NUMERIC_KINDS,
    OPTIONAL_TABLES,
    TABLES,
    Column,
    Table,
)
from advocacy.settings import Settings

log = logging.getLogger(__name__)

SITE_NAME = "contracts"
COLUMNS_RULE_TYPE = "expect_table_columns_to_match_set"
ROW_COUNT_TYPE = "expect_table_row_count_to_be_between"
# Tables whose suites run as one DuckDB aggregate by default (docs/contracts.md).
PUSHDOWN_DEFAULT = frozenset(name for name, table in TABLES.items() if table.large)
# Arrow record-batch readers re-raise DuckDB read errors as plain OSError.
READ_ERRORS = (duckdb.Error, pa.ArrowException, OSError, UnicodeDecodeError)


class TableProgress(Protocol):
    """What a caller (the CLI's progress lines) is told while tables are checked."""

    def table_started(self, table: str, con: duckdb.DuckDBPyConnection) -> None: ...

    def table_done(self, table: str, rows: int, seconds: float) -> None: ...


@dataclass(frozen=True)
class TableFile:
    """A table's file as found in the folder: which contract columns it has, or what is wrong."""

    table: Table
    path: Path | None
    columns: frozenset[str] = frozenset()
    problem: str | None = None

    def has(self, column: str) -> bool:
        return self.problem is None and column in self.columns


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def locate(con: duckdb.DuckDBPyConnection, data_dir: Path, table: Table) -> TableFile:
    """Find the table's file and read its header/schema; problems are returned, not raised."""
    try:
        path = find_table_file(data_dir, table.name)
    except DataFolderError as err:
        return TableFile(
            table, err.path if err.path and err.path.is_file() else None, problem=err.problem
        )
    try:
        present = set(file_columns(con, path))
    except READ_ERRORS as err:
        return TableFile(table, path, problem=f"unreadable: {read_error_message(err, path)}")
    return TableFile(table, path, frozenset(set(table.column_names) & present))


def _nonfinite_condition(column: Column) -> str | None:
    """SQL true where a numeric column's raw value is NaN, inf or -inf (text or double)."""
    if column.kind not in NUMERIC_KINDS:
        return None
    return f'coalesce(NOT isfinite(TRY_CAST("{column.name}" AS DOUBLE)), false)'


def _unparsed_sql(column: Column, text: bool) -> str | None:
    """Raw value (as text) where it does not convert to the column's type; ints must be whole.

    NaN, inf and -inf are left to the finite-number check, so they fail one rule, not two.
    """
    if column.kind not in TYPE_RULES:
        return None
    raw, typed = f'"{column.name}"', column_expr(column, safe=True, text=text)
    bad = f"{typed} IS NULL"
    if column.kind == "int":
        bad += f" OR TRY_CAST({raw} AS DOUBLE) <> {typed}"
    nonfinite = _nonfinite_condition(column)
    if nonfinite:
        bad = f"({bad}) AND NOT {nonfinite}"
    return f"CASE WHEN {raw} IS NOT NULL AND ({bad}) THEN CAST({raw} AS VARCHAR) END"


def _nonfinite_sql(column: Column) -> str | None:
    """Raw value (as text: 'inf', 'nan', ...) where a number is not finite, else null."""
    nonfinite = _nonfinite_condition(column)
    if nonfinite is None:
        return None
    return f'CASE WHEN {nonfinite} THEN CAST("{column.name}" AS VARCHAR) END'


def parent_file(column: Column, files: dict[str, TableFile]) -> tuple[TableFile, Column] | None:
    """The readable parent table file and key column a reference points to, if usable."""
    if not column.references:
        return None
    parent_name, key = column.references.split(".")
    parent = files.get(parent_name)
    if parent is None or not parent.has(key):
        return None
    return parent, parent.table.column(key)


def _numbered_source(path: Path) -> str:
    """The file with its row number as `__file_row` (file order for the first examples)."""
    if is_text(path):  # CSV has no row number of its own: a window over the scan (failures only)
        return f"(SELECT *, row_number() OVER () AS __file_row FROM {source_sql(path)})"
    p = str(path).replace("'", "''")
    numbered = f"read_parquet('{p}', file_row_number=true)"
    return f"(SELECT * RENAME (file_row_number AS __file_row) FROM {numbered})"


def check_frame_sql(tf: TableFile, files: dict[str, TableFile], *, numbered: bool = False) -> str:
    """SELECT of typed contract columns plus the derived `__unparsed` / `__orphan` columns.

    `numbered` adds the file row number as `__file_row` (the pushed-down examples query).
    """
    assert tf.path is not None
    text, cols, joins = is_text(tf.path), [], []
    for c in tf.table.columns:
        if c.name not in tf.columns:
            continue
        typed = column_expr(c, safe=True, text=text)
        cols.append(f'{typed} AS "{c.name}"')
        unparsed = _unparsed_sql(c, text)
        if unparsed:
            cols.append(f'{unparsed} AS "{unparsed_column(c.name)}"')
        nonfinite = _nonfinite_sql(c)
        if nonfinite:
            cols.append(f'{nonfinite} AS "{nonfinite_column(c.name)}"')
        parent = parent_file(c, files)
        if parent:
            (pf, key), alias = parent, f"p{len(joins)}"
            assert pf.path is not None
            parent_key = column_expr(key, safe=True, text=is_text(pf.path))
            keys = f"SELECT DISTINCT {parent_key} AS __key FROM {source_sql(pf.path)}"
            joins.append(f"LEFT JOIN ({keys}) AS {alias} ON {typed} = {alias}.__key")
            orphan = f"CASE WHEN {typed} IS NOT NULL AND {alias}.__key IS NULL THEN {typed} END"
            cols.append(f'{orphan} AS "{orphan_column(c.name)}"')
    source = source_sql(tf.path)
    if numbered:
        source = _numbered_source(tf.path)
        cols.append("s.__file_row AS __file_row")
    select = ", ".join(cols) or "1 AS __row"
    return f"SELECT {select} FROM {source} AS s {' '.join(joins)}"


def split_runnable(
    expectations: list[dict[str, Any]], tf: TableFile, files: dict[str, TableFile]
) -> tuple[list[dict[str, Any]], list[tuple[Check, str]]]:
    """Expectations the file allows to run, and the others with why they are skipped."""
    runnable, skipped = [], []
    for exp in expectations:
        meta = exp["meta"]
        check = Check(meta["column"], meta["rule"])
        needs = meta.get("needs") or ([meta["column"]] if meta["column"] else [])
        missing = [n for n in needs if n not in tf.columns]
        if missing:
            skipped.append((check, f"column {', '.join(missing)} missing"))
        elif "references" in meta and not parent_file(tf.table.column(meta["column"]), files):
            skipped.append((check, f"{meta['references']} not readable"))
        else:
            runnable.append(exp)
    return runnable, skipped


def _site_config(docs_dir: Path) -> dict[str, Any]:
    """A Data Docs site in docs_dir with validation pages and an index only."""
    return {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        # Validation pages already list every expectation; suite pages would double the cost.
        "site_section_builders": {"expectations": "0", "profiling": "0"},
    }


@contextmanager
def _without_frame_fingerprint() -> Iterator[None]:
    """GX's pandas engine md5-hashes every batch under HASH_THRESHOLD bytes (1e9) for an
    informational `pandas_data_fingerprint` batch marker: 4.1 of the 16 s of validation at 1M
    contacts (docs/benchmarks.md). The run's inputs are fingerprinted by file already
    (`data_contracts.profile`), so the marker is skipped while our batches run."""
    engine = pandas_execution_engine
    if not hasattr(engine, "HASH_THRESHOLD"):  # a GX that dropped it: nothing to skip
        yield
        return
    before, engine.HASH_THRESHOLD = engine.HASH_THRESHOLD, 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = before


class SuiteRunner:
    """One ephemeral GX context for a validation run: suites, a pandas asset, a Data Docs site."""

    def __init__(self, settings: Settings, docs_dir: Path) -> None:
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            data_docs_sites={SITE_NAME: _site_config(docs_dir)},
            progress_bars=ProgressBarsConfig(globally=False),
        )
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        asset = self.context.data_sources.add_pandas("contracts").add_dataframe_asset("frames")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self.result_format = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": settings.validation.examples_per_failure,
        }
        self.run_id = RunIdentifier(run_name="validate", run_time=datetime.now(UTC))

    def definition(self, table: str, expectations: list[dict[str, Any]]) -> gx.ValidationDefinition:
        suite = self.context.suites.add(gx.ExpectationSuite(name=table, expectations=expectations))
        vd = gx.ValidationDefinition(name=table, data=self.batch_definition, suite=suite)
        return self.context.validation_definitions.add(vd)

    def run(self, vd: gx.ValidationDefinition, frame: pd.DataFrame) -> Any:
        """Validate one frame; every batch of a table shares one stored-result key (run_id)."""
        with _without_frame_fingerprint():
            return vd.run(
                batch_parameters={"dataframe": frame},
                result_format=self.result_format,
                run_id=self.run_id,
            )

    def build_docs(self, merged: dict[str, Any], docs_dir: Path) -> Path:
        """Store the merged per-table results under their keys and render the Data Docs site."""
        store = self.context.validation_results_store
        for key in store.list_keys():
            name = key.expectation_suite_identifier.name
            if name in merged:
                store.set(key, merged[name])
        self.context.build_data_docs(site_names=[SITE_NAME])
        return docs_dir / "index.html"


def merge_results(acc: Any, new: Any, examples: int) -> Any:
    """Fold one batch's GX result into the running one: sum counts, keep the first examples."""
    if acc is None:
        return new
    by_id = {r.expectation_config.id: r for r in new.results}
    for r in acc.results:
        _merge_one(r, by_id[r.expectation_config.id], examples)
    return _restate(acc)


def _restate(acc: Any) -> Any:
    """The suite result's success and statistics after its expectation results changed."""
    ok = [r.success for r in acc.results]
    acc.success = all(ok)
    acc.statistics.update(
        evaluated_expectations=len(ok),
        successful_expectations=sum(ok),
        unsuccessful_expectations=len(ok) - sum(ok),
        success_percent=100.0 * sum(ok) / len(ok) if ok else None,
    )
    return acc


def _raised(result: Any) -> bool:
    return bool((result.exception_info or {}).get("raised_exception"))


def _merge_one(acc: Any, new: Any, examples: int) -> None:
    acc.success = bool(acc.success and new.success)
    if _raised(new) and not _raised(acc):
        acc.exception_info = new.exception_info
    a, b = acc.result, new.result
    if acc.expectation_config.type == ROW_COUNT_TYPE:  # the table's rows: the batches' sum
        a["observed_value"] = a.get("observed_value", 0) + b.get("observed_value", 0)
    for key in ("element_count", "unexpected_count", "missing_count"):
        if key in a or key in b:
            a[key] = a.get(key, 0) + b.get(key, 0)
    if "partial_unexpected_list" in a or "partial_unexpected_list" in b:
        merged = a.get("partial_unexpected_list", []) + b.get("partial_unexpected_list", [])
        a["partial_unexpected_list"] = merged[:examples]
        a.pop("partial_unexpected_counts", None)
        a.pop("partial_unexpected_index_list", None)
    _percentages(a)


def _percentages(r: dict[str, Any]) -> None:
    """Recompute GX's unexpected/missing percentages after counts were summed."""
    total, missing, bad = (
        r.get("element_count"),
        r.get("missing_count", 0),
        r.get("unexpected_count"),
    )
    if not total or bad is None:
        return
    present = total - missing
    r["missing_percent"] = 100.0 * missing / total
    r["unexpected_percent_total"] = 100.0 * bad / total
    r["unexpected_percent_nonmissing"] = 100.0 * bad / present if present else None
    r["unexpected_percent"] = r["unexpected_percent_nonmissing"]


def failures_from(result: Any, table: str, rows: int, examples: int) -> list[CheckFailure]:
    """Readable failures out of a (merged) GX suite result."""
    out = []
    for r in result.results:
        if r.success:
            continue
        meta, res = r.expectation_config.meta, r.result or {}
        rule = meta["rule"]
        if _raised(r):
            message = _first_line(Exception(r.exception_info.get("exception_message") or ""))
            out.append(
                CheckFailure(table, meta["column"], f"{rule} (check errored)", rows, [message])
            )
        elif r.expectation_config.type == COLUMNS_RULE_TYPE:
            missing = res.get("details", {}).get("mismatched", {}).get("missing", [])
            out += [CheckFailure(table, col, rule, rows) for col in missing]
        elif r.expectation_config.type == ROW_COUNT_TYPE:
            detail = f"the file has no rows; {table} must not be empty"
            out.append(CheckFailure(table, None, rule, 0, detail=detail))
        else:
            shown = [json_value(v) for v in res.get("partial_unexpected_list", [])]
            shown = [v for v in shown if v is not None][:examples]
            out.append(
                CheckFailure(table, meta["column"], rule, res.get("unexpected_count", 0), shown)
            )
    return out


def _empty_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.sql(f"SELECT * FROM ({sql}) LIMIT 0").to_arrow_table().to_pandas()


def validate_table(
    con: duckdb.DuckDBPyConnection,
    runner: SuiteRunner,
    tf: TableFile,
    files: dict[str, TableFile],
    settings: Settings,
    scan: TimeScan | None = None,
) -> tuple[TableResult, Any]:
    """Run one table's suite over its file (in batches when the table is large).

    Only `large` tables are batched (usage_events); their checks are all per row, so summing the
    batches is exact. A unique column in a large table would need a cross-batch check.
    `scan`, when given, sees every frame too (freshness facts without a second read).
    """
    name, path = tf.table.name, tf.path
    if tf.problem:
        return TableResult(name, path, problem=tf.problem), None
    runnable, skipped = split_runnable(load_suite_dict(name)["expectations"], tf, files)
    vd = runner.definition(name, runnable)
    sql, examples = check_frame_sql(tf, files), settings.validation.examples_per_failure
    batch_rows = settings.validation.batch_rows if tf.table.large else None
    merged, rows = None, 0
    try:
        for frame in iter_frames(con, sql, batch_rows):
            rows += len(frame)
            merged = merge_results(merged, runner.run(vd, frame), examples)
            if scan is not None:
                scan.update(frame)
        if merged is None:
            merged = runner.run(vd, _empty_frame(con, sql))
    except READ_ERRORS as err:
        problem = f"unreadable: {read_error_message(err, path)}"
        return TableResult(name, path, rows=rows, problem=problem), None
    checks = [Check(e["meta"]["column"], e["meta"]["rule"]) for e in runnable]
    failures = failures_from(merged, name, rows, examples)
    log.info("%s: %d rows, %d checks, %d failed", name, rows, len(checks), len(failures))
    return TableResult(name, path, rows, checks, failures, skipped), merged


# ---------------------------------------------------------------- pushed down to DuckDB
@dataclass(frozen=True)
class PushdownQueries:
    """One table's suite as SQL: the rule flags per row, one aggregate, the examples."""

    flags: str  # the check frame plus one `__bad<i>` / `__in<i>` / `__miss<i>` flag per rule
    numbered_flags: str  # the same over the frame with `__file_row` (examples in file order)
    aggregate: str  # rows, then per rule failing / domain / missing counts, then the facts
    rules: dict[int, RuleSQL]  # expectation index -> its SQL twin
    facts: list[str]  # freshness fact names, in the aggregate's order


def pushdown_queries(
    frame_sql: str, numbered_sql: str, runnable: list[dict[str, Any]], fact_sql: dict[str, str]
) -> PushdownQueries:
    """The SQL of one pushed-down table: each rule's flags, then one pass that counts them all."""
    rules = {i: rule_sql(e) for i, e in enumerate(runnable) if e["type"] not in TABLE_LEVEL_TYPES}
    flags, counts = ["f.*"], ["count(*)"]
    for i, r in rules.items():
        keep = f"({r.domain}) AND NOT coalesce({r.missing}, false)" if r.missing else r.domain
        flags += [
            f"coalesce(({keep}) AND ({r.bad}), false) AS __bad{i}",
            f"coalesce({r.domain}, false) AS __in{i}",
            f"coalesce(({r.domain}) AND ({r.missing or 'false'}), false) AS __miss{i}",
            f"{r.example} AS __ex{i}",
        ]
        counts += [f"count(*) FILTER (WHERE __{k}{i})" for k in ("bad", "in", "miss")]
    flag_sql = f"SELECT {', '.join(flags)} FROM ({frame_sql}) AS f"
    numbered = f"SELECT {', '.join(flags)} FROM ({numbered_sql}) AS f"
    aggregate = f"SELECT {', '.join(counts + list(fact_sql.values()))} FROM ({flag_sql})"
    return PushdownQueries(flag_sql, numbered, aggregate, rules, list(fact_sql))


def _example(value: Any) -> Any:
    """A DuckDB date as the pandas timestamp GX would have listed (same JSON in the report)."""
    if isinstance(value, list):
        return [_example(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def _first_examples(
    con: duckdb.DuckDBPyConnection, q: PushdownQueries, failing: list[int], examples: int
) -> dict[int, list[Any]]:
    """The first `examples` failing values of each failing rule, in file order.

    One query per failing rule (each keeps its values' DuckDB type); none when all pass.
    """
    shown: dict[int, list[Any]] = {}
    for i in failing:
        sql = (
            f"SELECT __ex{i} FROM ({q.numbered_flags}) WHERE __bad{i} "
            f"ORDER BY __file_row LIMIT {int(examples)}"
        )
        shown[i] = [_example(row[0]) for row in con.execute(sql).fetchall()]
    return shown


def _fill(result: Any, counts: tuple[int, int, int], shown: list[Any], examples: int) -> None:
    """Put the exact counts into GX's result for the empty frame (same keys, same meaning)."""
    bad, domain, missing = counts
    r = result.result
    r["element_count"], r["unexpected_count"] = domain, bad
    if "missing_count" in r:
        r["missing_count"] = missing
    r["partial_unexpected_list"] = shown[:examples]
    r.pop("partial_unexpected_counts", None)
    r.pop("partial_unexpected_index_list", None)
    _percentages(r)
    result.success = bad == 0


def pushdown_table(
    con: duckdb.DuckDBPyConnection,
    runner: SuiteRunner,
    tf: TableFile,
    files: dict[str, TableFile],
    settings: Settings,
    scan: TimeScan | None = None,
) -> tuple[TableResult, Any]:
    """Run one table's suite as one DuckDB aggregate; same report and GX result as GX gives.

    The examples are read afterwards, only for the rules that fail (`_first_examples`).
    """
    name, path = tf.table.name, tf.path
    if tf.problem:
        return TableResult(name, path, problem=tf.problem), None
    runnable, skipped = split_runnable(load_suite_dict(name)["expectations"], tf, files)
    vd = runner.definition(name, runnable)
    frame_sql, examples = check_frame_sql(tf, files), settings.validation.examples_per_failure
    fact_sql = scan.sql_facts(tf.columns) if scan is not None else {}
    numbered_sql = check_frame_sql(tf, files, numbered=True)
    q = pushdown_queries(frame_sql, numbered_sql, runnable, fact_sql)
    try:
        skeleton = runner.run(vd, _empty_frame(con, frame_sql))
        row = con.execute(q.aggregate).fetchall()[0]  # one row; fetchall finishes the result
        rows, values = int(row[0]), list(row[1:])
        counts = {i: tuple(values[3 * k : 3 * k + 3]) for k, i in enumerate(q.rules)}
        failing = [i for i, c in counts.items() if c[0]]
        nulls_only = {
            i for i in failing if runnable[i]["type"] == "expect_column_values_to_not_be_null"
        }
        shown = _first_examples(con, q, [i for i in failing if i not in nulls_only], examples)
    except READ_ERRORS as err:
        problem = f"unreadable: {read_error_message(err, path)}"
        return TableResult(name, path, problem=problem), None
    if scan is not None:
        scan.add_facts(rows, dict(zip(q.facts, values[3 * len(q.rules) :], strict=True)))
    index = {e.id: i for i, e in enumerate(vd.suite.expectations)}
    for result in skeleton.results:
        i = index[result.expectation_config.id]
        if i in q.rules:
            bad = int(counts[i][0])
            default = [None] * min(bad, examples) if i in nulls_only else []
            _fill(result, counts[i], shown.get(i, default), examples)
        elif result.expectation_config.type == ROW_COUNT_TYPE:
            kw = runnable[i]["kwargs"]
            result.result["observed_value"] = rows
            lo, hi = kw.get("min_value"), kw.get("max_value")
            result.success = (lo is None or rows >= lo) and (hi is None or rows <= hi)
    merged = _restate(skeleton)
    checks = [Check(e["meta"]["column"], e["meta"]["rule"]) for e in runnable]
    failures = failures_from(merged, name, rows, examples)
    log.info("%s: %d rows, %d checks in DuckDB, %d failed", name, rows, len(checks), len(failures))
    return TableResult(name, path, rows, checks, failures, skipped), merged


def validate_folder(
    data_dir: Path | str,
    settings: Settings,
    *,
    docs_dir: Path | None = None,
    as_of: date | None = None,
    tables: Sequence[str] | None = None,
    write_docs: bool = True,
    pushdown: Collection[str] | None = None,
    progress: TableProgress | None = None,
) -> ValidationReport:
    """Validate every table of the folder against its suite; write Data Docs; never raise on data.

    The whole files are checked: rows after `as_of` are allowed. With `as_of`, the report also
    holds the freshness checks at as_of (`freshness.py`: staleness per table, a closable label
    window); without it, none run. A folder that is missing or holds no table file raises one
    `DataFolderError` (`check_data_folder`) before anything is read; problems with single files
    are reported per table. `tables` limits the run to some tables (their parents are still read
    for references). Data Docs go to `docs_dir` (default `settings.validation.data_docs_dir`,
    relative to the working folder), and the report names the index page;
    `write_docs=False` skips the HTML (about half a second of rendering).

    `pushdown` names the tables whose suites run as one DuckDB aggregate (default: the large
    ones, `PUSHDOWN_DEFAULT`); the others run in GX. `progress` hears when each table starts
    and ends (the CLI's progress lines).
    """
    known = set(CONTRACT_TABLES)
    unknown = sorted(set(tables or ()) - known) + sorted(set(pushdown or ()) - known)
    if unknown:
        raise ValueError(f"unknown tables {unknown}; the contract has {sorted(known)}")
    start = time.perf_counter()
    data_dir = check_data_folder(data_dir)
    docs_dir = Path(docs_dir or settings.validation.data_docs_dir).resolve()
    con = new_connection(engine=settings.engine)  # views are made per file by `locate`
    try:
        files = {name: locate(con, data_dir, table) for name, table in TABLES.items()}
        for name, table in OPTIONAL_TABLES.items():  # checked only when the folder has them
            if has_table_file(data_dir, name):
                files[name] = locate(con, data_dir, table)
        runner = SuiteRunner(settings, docs_dir)
        results, merged = [], {}
        pushed = PUSHDOWN_DEFAULT if pushdown is None else frozenset(pushdown)
        for name in [n for n in dict.fromkeys(tables or files) if n in files]:
            tf, began = files[name], time.perf_counter()
            if progress is not None:
                progress.table_started(name, con)
            scan = TimeScan.for_table(tf.table, as_of, settings) if as_of else None
            check = pushdown_table if name in pushed else validate_table
            result, gx_result = check(con, runner, tf, files, settings, scan)
            if progress is not None:
                progress.table_done(name, result.rows, time.perf_counter() - began)
            if scan is not None and result.problem is None:
                result = with_freshness(result, scan, settings)
            results.append(result)
            if gx_result is not None:
                merged[name] = gx_result
        index = runner.build_docs(merged, docs_dir) if write_docs else None
    finally:
        con.close()
    seconds = time.perf_counter() - start
    log.info("validated %s in %.1f s", data_dir, seconds)
    return ValidationReport(
        data_dir,
        results,
        as_of,
        index.resolve() if index else None,
        seconds,
        settings.validation.examples_per_failure,
    )
