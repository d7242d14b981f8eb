"""The committed suite JSON files equal what build_suite makes, and cover the contract."""

from __future__ import annotations

import json

import great_expectations as gx
import pytest

from advocacy.data_contracts import suites
from advocacy.data_contracts.tables import CONTRACT_TABLES, TABLES


@pytest.mark.parametrize("name", list(TABLES))
def test_committed_json_equals_built_suite(name):
    committed = (suites.SUITES_DIR / f"{name}.json").read_text()
    assert committed == suites.suite_json(TABLES[name]), (
        f"suites/{name}.json is stale: run `python -m advocacy.data_contracts.suites`"
    )


def test_no_extra_suite_files():
    assert {p.stem for p in suites.SUITES_DIR.glob("*.json")} == set(CONTRACT_TABLES)


@pytest.mark.parametrize("name", list(TABLES))
def test_json_loads_into_a_gx_context_unchanged(name):
    context = gx.get_context(mode="ephemeral")
    data = suites.load_suite_dict(name)
    suite = context.suites.add(gx.ExpectationSuite(**data))
    assert suite.id is not None
    assert suites.suite_to_dict(suite) == data


def test_write_suites_and_main(tmp_path):
    paths = suites.write_suites(tmp_path / "a")
    assert sorted(p.name for p in paths) == sorted(f"{n}.json" for n in CONTRACT_TABLES)
    assert suites.main([str(tmp_path / "b")]) == 0
    for path in paths:
        assert (tmp_path / "b" / path.name).read_text() == path.read_text()


def _rules(name: str) -> dict[tuple[str | None, str], dict]:
    out = {}
    for expectation in suites.suite_to_dict(suites.build_suite(TABLES[name]))["expectations"]:
        meta = expectation["meta"]
        out[(meta["column"], meta["rule"])] = expectation
    return out


def test_every_column_rule_of_the_contract_is_a_check():
    for name, table in TABLES.items():
        rules = _rules(name)
        for c in table.columns:
            assert (c.name, "not null") in rules or c.nullable
            assert (c.name, "unique") in rules or not c.unique
            assert (c.name, f"exists in {c.references}") in rules or not c.references
            assert (c.name, suites.set_rule(c.values)) in rules or not c.values
            assert (c.name, suites.TYPE_RULES.get(c.kind, "")) in rules or c.kind in (
                "string",
                "enum",
            )
            assert ((c.name, suites.FINITE_RULE) in rules) == (c.kind in ("int", "float"))
        assert ((None, suites.ROW_COUNT_RULE) in rules) == (not table.may_be_empty)
        for later, earlier in table.column_pairs:
            pair = rules[(later, f"{later} >= {earlier}")]
            assert pair["kwargs"]["or_equal"] is True
            assert pair["kwargs"]["ignore_row_if"] == "either_value_is_missing"


def test_required_columns_check_allows_extra_columns():
    for name, table in TABLES.items():
        check = _rules(name)[(None, "required column present")]
        assert check["kwargs"] == {"column_set": list(table.column_names), "exact_match": False}


def test_completed_rule_uses_row_conditions():
    rules = _rules("advocacy_activities")
    set_when = rules[("completed_at", "set when status is completed")]["kwargs"]["row_condition"]
    null_when = rules[("completed_at", "null when status is not completed")]["kwargs"]
    assert set_when == {
        "type": "comparison",
        "column": {"name": "status"},
        "operator": "==",
        "parameter": "completed",
    }
    assert null_when["row_condition"]["operator"] == "!="


def test_ranges_and_sets_read_well():
    accounts, nps = _rules("accounts"), _rules("nps_responses")
    assert ("segment", "values in set {smb, mid_market, enterprise}") in accounts
    assert accounts[("employees", ">= 1")]["kwargs"]["min_value"] == 1
    assert nps[("score", "between 0 and 10")]["kwargs"]["max_value"] == 10


def test_derived_columns_are_named_in_kwargs_and_described():
    check = _rules("support_tickets")[("contact_id", "exists in contacts.contact_id")]
    assert check["kwargs"] == {"column": suites.orphan_column("contact_id")}
    assert check["description"] == "contact_id exists in contacts.contact_id"
    typed = _rules("usage_events")[("occurred_at", "is a timestamp (ISO 8601)")]
    assert typed["kwargs"] == {"column": suites.unparsed_column("occurred_at")}
    finite = _rules("accounts")[("arr", suites.FINITE_RULE)]
    assert finite["type"] == "expect_column_values_to_be_null"
    assert finite["kwargs"] == {"column": suites.nonfinite_column("arr")}


def test_required_tables_need_a_row_and_support_tickets_may_be_empty():
    assert TABLES["support_tickets"].may_be_empty
    for name, table in TABLES.items():
        rule = _rules(name).get((None, suites.ROW_COUNT_RULE))
        if table.may_be_empty:
            assert rule is None
        else:
            assert rule["type"] == "expect_table_row_count_to_be_between"
            assert rule["kwargs"] == {"min_value": 1}


@pytest.mark.parametrize(
    ("address", "ok"),
    [("a.b@example.com", True), ("x@y.io", True), ("no-at.example.com", False), ("a@b", False)],
)
def test_email_regex(address, ok):
    import re

    assert bool(re.search(suites.EMAIL_REGEX, address)) is ok


def test_json_is_stable_text():
    text = suites.suite_json(TABLES["contacts"])
    assert text.endswith("}\n") and '"id"' not in text
    assert json.loads(text)["name"] == "contacts"
