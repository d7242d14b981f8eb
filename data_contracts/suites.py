"""One Great Expectations suite per input table, built from the contract in `tables.py`.

The suites are kept as reviewable, id-less JSON in `suites/<table>.json`; a test checks that
those files equal what `build_suite` builds, so they cannot drift from the contract.
`python -m advocacy.data_contracts.suites` rewrites them.

Three kinds of check read a derived column that the validator computes with DuckDB, because
pandas and GX cannot see them in the typed values:
- `<column>__unparsed`: the raw value where it does not parse as the column's type (text in a
  numeric column, a Parquet column of the wrong type), so a bad value is a failure with
  examples and not a crash;
- `<column>__nonfinite`: the raw value where a numeric column holds NaN, inf or -inf (Parquet
  doubles, or text like `inf` in a CSV), which pandas would read as missing or as a number;
- `<column>__orphan`: the value where it is missing from the referenced parent table. A GX
  value set of all parent ids (a `$PARAMETER`) would be exact too, but GX 1.24 walks such a set
  about a hundred times per run in pydantic: 2 s per check for 20k ids, about two minutes for
  1M. The anti-join in DuckDB takes well under a second, and the JSON stays static either way.
Each expectation's `meta` names the contract column and the readable rule the report shows.

`rule_sql` is each column expectation's SQL twin (which rows GX looks at, which of them fail,
what it shows), so the validator can evaluate a large table's whole suite in one DuckDB
aggregate instead of GX scanning pandas batches (docs/contracts.md, "How the checks run").
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column as RowColumn

from advocacy.data_contracts.tables import CONTRACT_TABLES, NUMERIC_KINDS, Column, Table

log = logging.getLogger(__name__)

SUITES_DIR = Path(__file__).parent / "suites"

# Rules of the input contract that are not a property of one column in tables.py.
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EMAIL_COLUMNS = {("contacts", "email")}
ID_SUFFIX = "_id"  # ids are "any non-empty text"
# (table, column that must be set exactly when status_column == status)
SET_WHEN_STATUS = {("advocacy_activities", "completed_at"): ("status", "completed")}
# (table, column that may be null only when status_column == status): unprompted acts
NULL_ONLY_WHEN_STATUS = {("advocacy_activities", "requested_at"): ("status", "completed")}

TYPE_RULES = {
    "int": "is an integer",
    "float": "is a number",
    "bool": "is a boolean",
    "date": "is a date (YYYY-MM-DD)",
    "timestamp": "is a timestamp (ISO 8601)",
}
FINITE_RULE = "is a finite number (no NaN, inf, -inf)"
ROW_COUNT_RULE = "at least one row"


def unparsed_column(column: str) -> str:
    """Derived column: raw value where it does not parse as the column's type, else null."""
    return f"{column}__unparsed"


def orphan_column(column: str) -> str:
    """Derived column: value where it is missing from the referenced parent, else null."""
    return f"{column}__orphan"


def nonfinite_column(column: str) -> str:
    """Derived column: raw value (as text) where a number is NaN, inf or -inf, else null."""
    return f"{column}__nonfinite"


def _meta(column: str | None, rule: str, *needs: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"column": column, "rule": rule}
    if needs:
        meta["needs"] = list(needs)
    return meta


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def range_rule(column: Column) -> str:
    """Readable range rule, e.g. 'between 0 and 10' or '>= 1'."""
    lo, hi = column.min_value, column.max_value
    if lo is not None and hi is not None:
        return f"between {_number(lo)} and {_number(hi)}"
    return f">= {_number(lo)}" if lo is not None else f"<= {_number(hi)}"


def set_rule(values: tuple[str, ...] | list[str]) -> str:
    return "values in set {" + ", ".join(values) + "}"


def _column_expectations(table: Table, c: Column) -> list[gxe.Expectation]:
    """The checks on one column, in a fixed order: type, nulls, ids, uniqueness, values."""
    out: list[gxe.Expectation] = []
    if c.kind in TYPE_RULES:
        rule = TYPE_RULES[c.kind]
        out.append(
            gxe.ExpectColumnValuesToBeNull(
                column=unparsed_column(c.name),
                description=f"{c.name} {rule}",
                meta=_meta(c.name, rule),
            )
        )
    if c.kind in NUMERIC_KINDS:
        out.append(
            gxe.ExpectColumnValuesToBeNull(
                column=nonfinite_column(c.name),
                description=f"{c.name} {FINITE_RULE}",
                meta=_meta(c.name, FINITE_RULE),
            )
        )
    if not c.nullable:
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=c.name, meta=_meta(c.name, "not null")))
    if c.name.endswith(ID_SUFFIX):
        out.append(
            gxe.ExpectColumnValueLengthsToBeBetween(
                column=c.name, min_value=1, meta=_meta(c.name, "non-empty text")
            )
        )
    if c.unique:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=c.name, meta=_meta(c.name, "unique")))
    if c.values:
        out.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=c.name, value_set=list(c.values), meta=_meta(c.name, set_rule(c.values))
            )
        )
    if c.min_value is not None or c.max_value is not None:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=c.name,
                min_value=c.min_value,
                max_value=c.max_value,
                meta=_meta(c.name, range_rule(c)),
            )
        )
    if (table.name, c.name) in EMAIL_COLUMNS:
        out.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=c.name, regex=EMAIL_REGEX, meta=_meta(c.name, "looks like an e-mail address")
            )
        )
    if c.references:
        rule = f"exists in {c.references}"
        out.append(
            gxe.ExpectColumnValuesToBeNull(
                column=orphan_column(c.name),
                description=f"{c.name} {rule}",
                meta={**_meta(c.name, rule), "references": c.references},
            )
        )
    return out


def _pair_expectations(table: Table) -> list[gxe.Expectation]:
    """later >= earlier wherever both are set (timestamp order)."""
    return [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=later,
            column_B=earlier,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta(later, f"{later} >= {earlier}", later, earlier),
        )
        for later, earlier in table.column_pairs
    ]


def _status_expectations(table: Table) -> list[gxe.Expectation]:
    """Conditional rules: completed <=> completed_at set; a null requested_at means completed."""
    out: list[gxe.Expectation] = []
    for (name, column), (status_col, status) in SET_WHEN_STATUS.items():
        if name != table.name:
            continue
        is_status, not_status = RowColumn(status_col) == status, RowColumn(status_col) != status
        out += [
            gxe.ExpectColumnValuesToNotBeNull(
                column=column,
                row_condition=is_status,
                meta=_meta(column, f"set when {status_col} is {status}", column, status_col),
            ),
            gxe.ExpectColumnValuesToBeNull(
                column=column,
                row_condition=not_status,
                meta=_meta(column, f"null when {status_col} is not {status}", column, status_col),
            ),
        ]
    for (name, column), (status_col, status) in NULL_ONLY_WHEN_STATUS.items():
        if name == table.name:
            rule = f"{set_rule([status])} when {column} is null"
            out.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=status_col,
                    value_set=[status],
                    row_condition=RowColumn(column).is_null(),
                    meta=_meta(status_col, rule, status_col, column),
                )
            )
    return out


# Table-level expectations: the validator answers them from the file's columns and row count.
TABLE_LEVEL_TYPES = ("expect_table_columns_to_match_set", "expect_table_row_count_to_be_between")


@dataclass(frozen=True)
class RuleSQL:
    """One column expectation as SQL over the typed check frame (GX's pandas semantics).

    `domain`: the rows GX evaluates (its row condition); `bad`: those that fail; `missing`: the
    nulls GX leaves out of the domain (None where it counts nulls itself); `example`: the value
    GX lists for a failing row; `window`: true when `bad` uses a window function (unique).
    """

    domain: str
    bad: str
    example: str
    missing: str | None = None
    window: bool = False


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"no SQL literal for {value!r}")
    return repr(value)


def _condition_sql(condition: dict[str, Any] | None) -> str:
    """GX row condition as SQL; `!=` keeps nulls, as pandas' `!=` does."""
    if not condition:
        return "true"
    if condition.get("type") == "nullity":
        col = _ident(condition["column"]["name"])
        return f"{col} IS NULL" if condition["is_null"] else f"{col} IS NOT NULL"
    if condition.get("type") == "comparison":
        col, op = _ident(condition["column"]["name"]), condition["operator"]
        value = _literal(condition["parameter"])
        if op == "!=":
            return f"{col} IS DISTINCT FROM {value}"
        if op in ("==", "<", "<=", ">", ">="):
            return f"{col} {'=' if op == '==' else op} {value}"
    raise ValueError(f"no SQL for the row condition {condition!r}")


def _bounds(col: str, kw: dict[str, Any], *, strict: tuple[str, str]) -> str:
    parts = []
    if kw.get("min_value") is not None:
        parts.append(f"{col} {'<=' if kw.get(strict[0]) else '<'} {_literal(kw['min_value'])}")
    if kw.get("max_value") is not None:
        parts.append(f"{col} {'>=' if kw.get(strict[1]) else '>'} {_literal(kw['max_value'])}")
    return " OR ".join(parts) or "false"


def rule_sql(expectation: dict[str, Any]) -> RuleSQL:
    """The SQL twin of one committed column expectation; ValueError for a type it lacks."""
    kind, kw = expectation["type"], expectation["kwargs"]
    domain = _condition_sql(kw.get("row_condition"))
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _ident(kw["column_A"]), _ident(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        return RuleSQL(domain, f"NOT ({a} {op} {b})", f"[{a}, {b}]", f"{a} IS NULL OR {b} IS NULL")
    col = _ident(kw["column"])
    if kind == "expect_column_values_to_not_be_null":
        return RuleSQL(domain, f"{col} IS NULL", col)
    if kind == "expect_column_values_to_be_null":
        return RuleSQL(domain, f"{col} IS NOT NULL", col)
    bad = {
        "expect_column_value_lengths_to_be_between": lambda: _bounds(
            f"length({col})", kw, strict=("strict_min", "strict_max")
        ),
        "expect_column_values_to_be_between": lambda: _bounds(
            col, kw, strict=("strict_min", "strict_max")
        ),
        "expect_column_values_to_be_in_set": lambda: (
            f"{col} NOT IN ({', '.join(_literal(v) for v in kw['value_set'])})"
        ),
        "expect_column_values_to_match_regex": lambda: (
            f"NOT regexp_matches(CAST({col} AS VARCHAR), {_literal(kw['regex'])})"
        ),
        "expect_column_values_to_be_unique": lambda: f"count(*) OVER (PARTITION BY {col}) > 1",
    }.get(kind)
    if bad is None:
        raise ValueError(f"no SQL twin for {kind}")
    window = kind == "expect_column_values_to_be_unique"
    return RuleSQL(domain, bad(), col, f"{col} IS NULL", window)


def build_suite(table: Table) -> gx.ExpectationSuite:
    """The GX suite that enforces every rule of the input contract for `table`."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(table.column_names),
            exact_match=False,
            meta=_meta(None, "required column present"),
        )
    ]
    if not table.may_be_empty:
        expectations.append(
            gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=_meta(None, ROW_COUNT_RULE))
        )
    for column in table.columns:
        expectations += _column_expectations(table, column)
    expectations += _pair_expectations(table) + _status_expectations(table)
    return gx.ExpectationSuite(name=table.name, expectations=expectations)


def suite_to_dict(suite: gx.ExpectationSuite) -> dict[str, Any]:
    """The suite as id-less JSON data (ids are assigned by a GX context, not reviewed)."""
    data = suite.to_json_dict()
    data.pop("id", None)
    for expectation in data["expectations"]:
        expectation.pop("id", None)
    return data


def suite_json(table: Table) -> str:
    """The exact text of `suites/<table>.json`."""
    return json.dumps(suite_to_dict(build_suite(table)), indent=2) + "\n"


def load_suite_dict(table: str, suites_dir: Path = SUITES_DIR) -> dict[str, Any]:
    """The committed suite for `table`, as JSON data."""
    return json.loads((suites_dir / f"{table}.json").read_text())


def write_suites(suites_dir: Path = SUITES_DIR) -> list[Path]:
    """(Re)write one JSON file per contract table (optional ones too); returns the paths."""
    suites_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in CONTRACT_TABLES.items():
        path = suites_dir / f"{name}.json"
        path.write_text(suite_json(table))
        paths.append(path)
    log.info("wrote %d suites to %s", len(paths), suites_dir)
    return paths


def main(argv: list[str] | None = None) -> int:
    """`python -m advocacy.data_contracts.suites [DIR]`: regenerate the suite files."""
    parser = argparse.ArgumentParser(
        prog="python -m advocacy.data_contracts.suites",
        description="Regenerate the GX suite files from the contract (data_contracts/tables.py).",
    )
    parser.add_argument("dir", nargs="?", type=Path, default=SUITES_DIR, help="target folder")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_suites(args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
