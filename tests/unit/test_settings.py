"""Settings: defaults, partial YAML files, the committed config mirrors the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from advocacy_settings import Settings, load_settings, settings_to_yaml

REPO = Path(__file__).resolve().parents[2]


def test_committed_config_equals_the_defaults():
    committed = yaml.safe_load((REPO / "config" / "advocacy.yaml").read_text())
    assert committed == Settings().model_dump(mode="json")


def test_partial_file_keeps_other_defaults(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("ranking:\n  max_per_account: 5\n")
    s = load_settings(path)
    assert s.ranking.max_per_account == 5
    assert s.ranking.list_length == Settings().ranking.list_length


@pytest.mark.parametrize(
    "text",
    ["ranking:\n  max_per_account: 0\n", "windows:\n  unknown_knob: 3\n", "- a list\n"],
)
def test_invalid_settings_are_refused(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises((ValidationError, ValueError)):
        load_settings(path)


def test_yaml_round_trip():
    s = Settings()
    assert Settings.model_validate(yaml.safe_load(settings_to_yaml(s))) == s
