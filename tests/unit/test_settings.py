"""Settings: defaults, partial YAML files, the committed config mirrors the defaults, every field
has its range, and a bad file gives one SettingsError line per problem (file, key, rule, value)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from advocacy.data_contracts.tables import TABLES
from advocacy.features import advocacy, nps, support, usage
from advocacy.settings import (
    DEFAULT_MAX_STALENESS_DAYS,
    REMOVED_KEYS,
    Settings,
    SettingsError,
    load_settings,
    settings_from_mapping,
    settings_to_yaml,
)

REPO = Path(__file__).resolve().parents[2]


def test_committed_config_equals_the_defaults(monkeypatch):
    monkeypatch.delenv("ADVOCACY_NUM_THREADS", raising=False)  # tests/conftest.py sets it
    committed = yaml.safe_load((REPO / "config" / "advocacy.yaml").read_text())
    assert committed == Settings().model_dump(mode="json")


def test_committed_config_loads():
    assert load_settings(REPO / "config" / "advocacy.yaml") == Settings()


def test_partial_file_keeps_other_defaults(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("ranking:\n  max_per_account: 5\n")
    s = load_settings(path)
    assert s.ranking.max_per_account == 5
    assert s.ranking.list_length == Settings().ranking.list_length


def test_yaml_round_trip():
    s = Settings()
    assert Settings.model_validate(yaml.safe_load(settings_to_yaml(s))) == s


# ---------------------------------------------------------------- staleness limits


def test_staleness_defaults_cover_every_table():
    assert list(DEFAULT_MAX_STALENESS_DAYS) == list(TABLES)
    assert Settings().validation.max_staleness_days == DEFAULT_MAX_STALENESS_DAYS
    assert DEFAULT_MAX_STALENESS_DAYS["usage_events"] == 7


def test_partial_staleness_mapping_keeps_the_other_tables(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "validation:\n  max_staleness_days:\n    usage_events: 14\n    accounts: null\n"
    )
    limits = load_settings(path).validation.max_staleness_days
    assert limits == {**DEFAULT_MAX_STALENESS_DAYS, "usage_events": 14, "accounts": None}


# ---------------------------------------------------------------- one line per problem

BAD = [
    (
        "windows:\n  snapshot_spacing_days: -28\n",
        "windows.snapshot_spacing_days: must be >= 1 (got -28)",
    ),
    ("windows:\n  response_window_days: 0\n", "windows.response_window_days: must be >= 1 (got 0)"),
    (
        "windows:\n  burnout_horizon_days: 0\n",
        "windows.burnout_horizon_days: must be >= 1 (got 0)",
    ),
    (
        "windows:\n  response_window_days: 60\n  advocate_lookback_days: 60\n",
        "windows.advocate_lookback_days: must be > response_window_days (60) (got 60)",
    ),
    (
        "windows:\n  burnout_lookback_days: 27\n",
        "windows.burnout_lookback_days: must be >= 28 (got 27)",
    ),
    (
        "eligibility:\n  block_nps_at_or_below: 12\n",
        "eligibility.block_nps_at_or_below: must be <= 10 (got 12)",
    ),
    (
        "eligibility:\n  block_nps_at_or_below: -2\n",
        "eligibility.block_nps_at_or_below: must be >= -1 (got -2)",
    ),
    (
        "eligibility:\n  blocking_ticket_priorities: [high, critical]\n",
        "eligibility.blocking_ticket_priorities[1]: must be one of 'low', 'normal', 'high' or "
        "'urgent' (got \"critical\")",
    ),
    ("ranking:\n  max_per_account: 0\n", "ranking.max_per_account: must be >= 1 (got 0)"),
    (
        "ranking:\n  burnout_weight: .nan\n",
        "ranking.burnout_weight: must be a finite number (got NaN)",
    ),
    ("training:\n  min_rows: -5\n", "training.min_rows: must be >= 1 (got -5)"),
    ("training:\n  holdout_fraction: 0.5\n", "training.holdout_fraction: must be < 0.5 (got 0.5)"),
    ("training:\n  tune_trials: 0\n", "training.tune_trials: must be >= 1 (got 0)"),
    (
        "training:\n  calibration: platt\n",
        "training.calibration: must be one of 'isotonic' or 'sigmoid' (got \"platt\")",
    ),
    (
        "training:\n  tune_seconds: 0\n",
        "training.tune_seconds: must be > 0 (got 0)",
    ),
    (
        "training:\n  lightgbm:\n    feature_fraction: 1.5\n",
        "training.lightgbm.feature_fraction: must be <= 1 (got 1.5)",
    ),
    (
        "training:\n  lightgbm:\n    learning_rate: 0\n",
        "training.lightgbm.learning_rate: must be > 0 (got 0)",
    ),
    ("promotion:\n  auc_tolerance: -0.1\n", "promotion.auc_tolerance: must be >= 0 (got -0.1)"),
    (
        "validation:\n  examples_per_failure: 0\n",
        "validation.examples_per_failure: must be >= 1 (got 0)",
    ),
    (
        "validation:\n  max_staleness_days:\n    usage_events: 0\n",
        "validation.max_staleness_days.usage_events: must be >= 1 (got 0)",
    ),
    (
        "validation:\n  max_staleness_days:\n    nps: 30\n",
        "validation.max_staleness_days: unknown table(s) nps; the tables are accounts, contacts, "
        'nps_responses, usage_events, support_tickets, advocacy_activities (got {"nps": 30})',
    ),
    ("validation:\n  data_docs_dir: ''\n", 'validation.data_docs_dir: must not be empty (got "")'),
    # wrong types
    (
        "windows:\n  burnout_horizon_days: ninety\n",
        'windows.burnout_horizon_days: must be a whole number (got "ninety")',
    ),
    (
        "windows:\n  burnout_horizon_days: 7.5\n",
        "windows.burnout_horizon_days: must be a whole number (got 7.5)",
    ),
    ("training:\n  tune_folds: many\n", 'training.tune_folds: must be a whole number (got "many")'),
    (
        "ranking:\n  advocate_weight: heavy\n",
        'ranking.advocate_weight: must be a number (got "heavy")',
    ),
    ("training:\n  tune: maybe\n", 'training.tune: must be true or false (got "maybe")'),
    ("windows: 5\n", "windows: must be a mapping (got 5)"),
    # unknown keys
    (
        "windows:\n  response_window: 30\n",
        "windows.response_window: unknown key (did you mean response_window_days?) (got 30)",
    ),
    ("trainig:\n  seed: 1\n", 'trainig: unknown key (did you mean training?) (got {"seed": 1})'),
]


@pytest.mark.parametrize(("text", "line"), BAD, ids=[line.split(":")[0] for _, line in BAD])
def test_bad_setting_is_one_line_naming_file_key_rule_and_value(tmp_path, text, line):
    path = tmp_path / "advocacy.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: {line}"
    assert info.value.problems == [line] and info.value.source == str(path)
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_every_problem_gets_its_own_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "windows:\n  burnout_horizon_days: -90\n  zzz: 1\n  recent_days: 60\n"
        "eligibility:\n  bogus: 1\n"
    )
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert str(info.value).splitlines() == [
        f"{path}: windows.recent_days: {REMOVED_KEYS['windows', 'recent_days']}",
        f"{path}: windows.burnout_horizon_days: must be >= 1 (got -90)",
        f"{path}: windows.zzz: unknown key (known keys: response_window_days, "
        "burnout_horizon_days, snapshot_spacing_days, burnout_lookback_days, "
        "advocate_lookback_days) (got 1)",
        f"{path}: eligibility.bogus: unknown key (known keys: recent_ask_days, "
        "block_nps_at_or_below, blocking_ticket_priorities, max_asks_90_days, "
        "max_asks_365_days) (got 1)",
    ]


# ---------------------------------------------------------------- keys that are gone

_WINDOW = "no longer a setting: feature windows are part of each feature's name ({}); a different "
_WINDOW += "window is a different feature"
_SPECS = "no longer a setting: monotone directions are part of the target specs (models/targets.py)"
_OPTUNA = (
    "no longer a setting: Optuna searches it on the time-ordered folds (training.tune, "
    "tune_trials, tune_seconds; models/tuning.py)"
)
REMOVED = [
    ("windows", "usage_windows_days", [14, 30, 90], _WINDOW.format("features/usage.py")),
    ("windows", "usage_trend_recent_days", 30, _WINDOW.format("features/usage.py")),
    ("windows", "usage_trend_base_days", 60, _WINDOW.format("features/usage.py")),
    (
        "windows",
        "recent_days",
        60,
        _WINDOW.format("features/usage.py, features/support.py, features/advocacy.py"),
    ),
    (
        "windows",
        "nps_promoter_min",
        9,
        "no longer a setting: the NPS promoter definition is part of the features "
        "(features/nps.py PROMOTER_MIN)",
    ),
    (
        "windows",
        "nps_detractor_max",
        6,
        "no longer a setting: the NPS detractor definition is part of the features and the "
        "burnout label (features/nps.py DETRACTOR_MAX); the ask policy's threshold is "
        "eligibility.block_nps_at_or_below",
    ),
    (
        "eligibility",
        "max_detractor_nps",
        6,
        "renamed eligibility.block_nps_at_or_below (the ask policy: a latest NPS at or below it "
        "blocks the ask; -1: off)",
    ),
    ("training", "monotone_advocate", {"nps_latest": 1}, _SPECS),
    ("training", "monotone_burnout", {"adv_asks": 1}, _SPECS),
    (
        "training",
        "valid_fraction",
        0.15,
        "no longer a setting: early stopping and calibration use the time-ordered folds of the "
        "train period (training.tune_folds; docs/models.md)",
    ),
    ("training", "tune_num_leaves", [15, 31], _OPTUNA),
    ("training", "tune_min_data_in_leaf", [20, 50], _OPTUNA),
    (
        "tracking",
        "advocate_model_name",
        "advocacy-propensity",
        "replaced by tracking.model_names: {advocate: <name>}",
    ),
    (
        "tracking",
        "burnout_model_name",
        "advocacy-burnout",
        "replaced by tracking.model_names: {burnout: <name>}",
    ),
]


@pytest.mark.parametrize(("section", "key", "value", "says"), REMOVED, ids=[r[1] for r in REMOVED])
def test_a_removed_key_says_what_became_of_it(tmp_path, section, key, value, says):
    path = tmp_path / "advocacy.yaml"
    path.write_text(yaml.safe_dump({section: {key: value}}))
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: {section}.{key}: {says}"
    assert info.value.__cause__ is None


def test_every_removed_key_is_tested_and_is_no_field_any_more():
    assert {(section, key) for section, key, _, _ in REMOVED} == set(REMOVED_KEYS)
    for section, key in REMOVED_KEYS:
        assert key not in Settings.model_fields[section].annotation.model_fields, key


def test_the_feature_definitions_are_constants_of_the_families():
    assert (nps.PROMOTER_MIN, nps.DETRACTOR_MAX) == (9, 6)
    assert usage.WINDOWS_DAYS == (7, 30, 90)
    assert (usage.TREND_RECENT_DAYS, usage.TREND_BASE_DAYS) == (30, 60)
    assert usage.RECENT_DAYS == support.RECENT_DAYS == advocacy.RECENT_DAYS == 90
    assert support.SEVERE_PRIORITIES == ("high", "urgent")
    assert Settings().eligibility.block_nps_at_or_below == nps.DETRACTOR_MAX  # same default


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "windows:\n  burnout_horizon_days: 90\n   snapshot_spacing_days: 28\n",
            "line 3, column 25: YAML syntax error: mapping values are not allowed here",
        ),
        (
            "windows:\n\tburnout_horizon_days: 90\n",
            "line 2, column 1: YAML syntax error: found character '\\t' that cannot start any "
            "token (while scanning for the next token)",
        ),
        (
            "ranking: [1, 2\n",
            "line 2, column 1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 1)",
        ),
        (
            "windows:\n  burnout_horizon_days: 30\n  burnout_horizon_days: 60\n",
            "line 3, column 3: YAML syntax error: duplicate key 'burnout_horizon_days'",
        ),
    ],
)
def test_yaml_syntax_error_names_the_line(tmp_path, text, line):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: {line}"


@pytest.mark.parametrize(
    ("text", "got"), [("- a list\n", "a list"), ("just text\n", "text"), ("42\n", "a number")]
)
def test_non_mapping_file_is_refused(tmp_path, text, got):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    (line,) = str(info.value).splitlines()
    assert line.startswith(f"{path}: must hold a mapping of sections (windows, eligibility, ")
    assert line.endswith(f"got {got}")


def test_empty_file_means_defaults(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("# nothing set\n")
    assert load_settings(path) == Settings()


def test_missing_or_unreadable_file_given_explicitly(tmp_path):
    with pytest.raises(SettingsError, match=r"settings file not found$") as info:
        load_settings(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: settings file not found"
    with pytest.raises(SettingsError, match=r"is a folder, not a settings file$"):
        load_settings(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("output_root: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SettingsError, match="not valid UTF-8"):
        load_settings(latin)


def test_no_path_and_no_default_file_gives_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings() == Settings()


def test_settings_from_mapping_names_its_source():
    with pytest.raises(SettingsError) as info:
        settings_from_mapping({"ranking": {"list_length": 0}}, "deployment parameters")
    assert str(info.value) == "deployment parameters: ranking.list_length: must be >= 1 (got 0)"


def test_direct_construction_still_validates():
    with pytest.raises(ValidationError):
        Settings(windows={"burnout_horizon_days": -1})
