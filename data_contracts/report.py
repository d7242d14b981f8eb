"""What `validate_folder` found: per table, which checks ran and which failed, with examples.

Plain dataclasses, so the CLI prints `to_text()` and run.json stores `to_dict()` without
importing Great Expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

OK, FAIL, SKIP = "ok", "FAIL", "skip"


@dataclass(frozen=True)
class Check:
    """One rule applied to one column (column is None for table-level rules)."""

    column: str | None
    rule: str


@dataclass(frozen=True)
class CheckFailure:
    """One failed check. `detail` replaces "N failing rows, e.g. ..." in the text when a
    row count says nothing (an empty table, stale data): one line saying what was found."""

    table: str
    column: str | None
    rule: str
    failing_rows: int
    examples: list[Any] = field(default_factory=list)
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "failing_rows": self.failing_rows,
            "examples": [json_value(v) for v in self.examples],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class TableResult:
    """One table: its file, rows read, checks run; `problem` says why the file could not be read."""

    table: str
    path: Path | None
    rows: int = 0
    checks: list[Check] = field(default_factory=list)
    failures: list[CheckFailure] = field(default_factory=list)
    skipped: list[tuple[Check, str]] = field(default_factory=list)  # (check, why not run)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.failures

    @property
    def checks_run(self) -> int:
        return len(self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "path": str(self.path) if self.path else None,
            "ok": self.ok,
            "problem": self.problem,
            "rows": self.rows,
            "checks_run": self.checks_run,
            "failures": [f.to_dict() for f in self.failures],
            "skipped": [
                {"column": c.column, "rule": c.rule, "why": why} for c, why in self.skipped
            ],
        }


@dataclass(frozen=True)
class ValidationReport:
    data_dir: Path
    tables: list[TableResult]
    as_of: date | None = None
    data_docs_index: Path | None = None
    seconds: float = 0.0
    examples_per_failure: int = 5

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def failures(self) -> list[CheckFailure]:
        return [f for t in self.tables for f in t.failures]

    def table(self, name: str) -> TableResult:
        return next(t for t in self.tables if t.table == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "data_dir": str(self.data_dir),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "data_docs_index": str(self.data_docs_index) if self.data_docs_index else None,
            "seconds": round(self.seconds, 2),
            "tables": [t.to_dict() for t in self.tables],
        }

    def to_text(self) -> str:
        """A per-table, per-check listing: short OK lines, failures with rows and examples."""
        bad = [t for t in self.tables if not t.ok]
        verdict = "PASSED" if self.ok else f"FAILED ({len(bad)} of {len(self.tables)} tables)"
        as_of = f", as_of {self.as_of.isoformat()}" if self.as_of else ""
        lines = [f"Input contract check of {self.data_dir}{as_of}: {verdict}"]
        for result in self.tables:
            lines += _table_lines(result, self.examples_per_failure)
        if self.data_docs_index:
            lines.append(f"Data Docs: {self.data_docs_index}")
        return "\n".join(lines)


def _table_lines(result: TableResult, examples: int) -> list[str]:
    where = result.path.name if result.path else "(no file)"
    if result.problem:
        return ["", f"{result.table}  [{where}]  FAIL  {result.problem}"]
    head = f"{result.table}  [{where}]  {result.rows:,} rows, {result.checks_run} checks"
    lines = ["", f"{head}  {'OK' if result.ok else 'FAIL'}"]
    shown: set[int] = set()
    for check in result.checks:
        hits = [f for f in result.failures if _matches(check, f)]
        shown.update(id(f) for f in hits)
        if not hits:
            lines.append(f"  {OK:4}  {_name(check)}  {check.rule}")
        lines += [_failure_line(f, examples) for f in hits]
    lines += [_failure_line(f, examples) for f in result.failures if id(f) not in shown]
    lines += [f"  {SKIP:4}  {_name(check)}  {check.rule}  ({why})" for check, why in result.skipped]
    return lines


def _matches(check: Check, failure: CheckFailure) -> bool:
    """A table-level check (no column) owns its failures on any column, e.g. missing ones."""
    return failure.rule == check.rule and check.column in (None, failure.column)


def _name(check: Check) -> str:
    return check.column or "(table)"


def _failure_line(failure: CheckFailure, examples: int) -> str:
    where = f"{failure.table}.{failure.column or '(table)'}"
    if failure.detail:
        return f"  {FAIL:4}  {where}  {failure.rule}  {failure.detail}"
    line = f"  {FAIL:4}  {where}  {failure.rule}  {failure.failing_rows:,} failing rows"
    shown = ", ".join(repr(json_value(v)) for v in failure.examples[:examples])
    return f"{line}  e.g. {shown}" if shown else line


def json_value(value: Any) -> Any:
    """An example value as plain JSON data (timestamps as ISO text, pairs as lists, NaN as None)."""
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if pd.isna(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (int, float)) else str(value)
