"""The target specs: one home for everything that differs between the models."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from advocacy.features import build as feature_build
from advocacy.features import registry
from advocacy.features.facts import TrainingRowsFacts
from advocacy.models import targets
from advocacy.models.targets import ADVOCATE, BURNOUT, TARGETS, TargetSpec, target
from advocacy.settings import Settings, SettingsError, TrackingSettings, settings_from_mapping

MODELS = Path(targets.__file__).parent
TARGET_WORD = re.compile(r"\b(advocate|burnout)\b")


def test_each_spec_holds_its_target():
    s = Settings()
    assert [t.name for t in TARGETS] == ["advocate", "burnout"]
    assert (ADVOCATE.score_column, ADVOCATE.title) == ("p_advocate", "Advocacy propensity")
    assert (BURNOUT.score_column, BURNOUT.title) == ("p_burnout", "Burnout risk")
    assert ADVOCATE.build_rows is feature_build.build_advocate_training
    assert BURNOUT.build_rows is feature_build.build_burnout_training
    assert ADVOCATE.label_window(s) == s.windows.response_window_days == 30
    assert BURNOUT.label_window(s) == s.windows.burnout_horizon_days == 90
    assert (ADVOCATE.nps_direction, BURNOUT.nps_direction) == (1, -1)
    assert ADVOCATE.monotone["nps_latest"] == 1 and ADVOCATE.monotone["nps_is_detractor"] == -1
    assert BURNOUT.monotone["adv_asks"] == 1 and BURNOUT.monotone["adv_days_since_last_ask"] == -1
    assert "Ask-selection bias" in ADVOCATE.card.caveats[0]
    assert ADVOCATE.card.purpose.startswith("p_advocate:")
    assert BURNOUT.card.purpose.startswith("p_burnout:")


@pytest.mark.parametrize("spec", TARGETS, ids=lambda s: s.name)
def test_specs_are_complete_and_distinct(spec: TargetSpec):
    assert spec.card.purpose and spec.card.population and spec.card.caveats
    assert set(spec.monotone.values()) <= {-1, 1}
    names = registry.feature_names()
    for pattern in spec.monotone:  # every direction names a real feature (globs allowed)
        assert any(re.fullmatch(pattern.replace("*", ".*"), f) for f in names), pattern
    for field in ("name", "score_column", "title", "registered_name"):
        assert len({getattr(t, field) for t in TARGETS}) == len(TARGETS), field


@pytest.mark.parametrize("spec", TARGETS, ids=lambda s: s.name)
def test_refusal_texts_come_from_the_spec(spec: TargetSpec):
    s = Settings()
    as_of = date(2026, 1, 5)
    assert "only 12" in spec.rows_cause(12, s, None)
    none = TrainingRowsFacts(spec.name, as_of, pd.Timestamp("2024-01-01"), 0, 0, 0, None)
    assert "before as_of 2026-01-05" in spec.rows_cause(0, s, none)
    early = TrainingRowsFacts(spec.name, as_of, None, 0, 0, 0, None)
    assert "before the data begins" in spec.rows_cause(0, s, early)
    assert spec.one_label_cause(0, s) != spec.one_label_cause(1, s)
    assert str(spec.label_window(s)) in spec.one_label_cause(0, s)


def test_rows_facts_per_spec(world_dir, as_of):
    from advocacy.data_contracts.load import connect

    con = connect(world_dir)
    try:
        facts = {spec.name: spec.rows_facts(con, as_of, Settings()) for spec in TARGETS}
    finally:
        con.close()
    assert [f.target for f in facts.values()] == list(facts)
    assert all(f.as_of == as_of and f.events > 0 for f in facts.values())


def test_target_finds_a_spec_by_name_and_names_the_known_ones():
    assert target("advocate") is ADVOCATE and target("burnout") is BURNOUT
    with pytest.raises(KeyError, match="unknown target 'churn'; the targets are advocate, burnout"):
        target("churn")


def test_model_names_override_the_registered_name():
    assert ADVOCATE.model_name(Settings()) == "advocacy-propensity"
    assert BURNOUT.model_name(Settings()) == "advocacy-burnout"
    custom = Settings(tracking=TrackingSettings(model_names={"advocate": "my-propensity"}))
    assert ADVOCATE.model_name(custom) == "my-propensity"
    assert BURNOUT.model_name(custom) == "advocacy-burnout"
    loaded = settings_from_mapping({"tracking": {"model_names": {"burnout": "b2"}}})
    assert BURNOUT.model_name(loaded) == "b2"


def test_an_unknown_target_in_model_names_is_a_clear_error():
    typo = Settings(tracking=TrackingSettings(model_names={"advocat": "x", "advocate": "y"}))
    with pytest.raises(SettingsError) as info:
        ADVOCATE.model_name(typo)
    assert "tracking.model_names.advocat: not a target" in str(info.value)
    assert "advocate, burnout" in str(info.value)
    with pytest.raises(SettingsError):
        targets.check_settings(typo)
    targets.check_settings(Settings())  # the defaults pass
    with pytest.raises(ValueError):  # an empty name is refused when the settings load
        TrackingSettings(model_names={"advocate": ""})


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a module except docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_nothing_in_models_but_the_specs_names_a_target():
    """Target names appear as code only in models/targets.py: everything else loops over
    TARGETS or reads a spec (comments and docstrings may still mention them)."""
    found = [
        f"{path.name}:{line}: {text!r}"
        for path in sorted(MODELS.glob("*.py"))
        if path.name != "targets.py"
        for line, text in _string_constants(path)
        if TARGET_WORD.search(text)
    ]
    assert not found, found
