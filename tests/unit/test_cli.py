"""The command line: every subcommand is registered with help; usage errors exit 2."""

from __future__ import annotations

import pytest

from pipelines.cli import build_parser, main
from pipelines.errors import describe

SUBCOMMANDS = ("generate", "validate", "train", "score", "run", "serve")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: advocacy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["train"],  # --data missing
        ["train", "--data", "d", "--as-of", "2026-13-45"],
        ["generate", "--out", "x", "--contacts", "0"],
        ["generate", "--out", "x", "--format", "xlsx"],
    ],
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_as_of_parses_iso_dates():
    args = build_parser().parse_args(
        ["score", "--data", "d", "--as-of", "2026-11-23", "--out", "o"]
    )
    assert args.as_of.isoformat() == "2026-11-23"


def test_unexpected_failure_is_one_line_with_location():
    try:
        {}["missing"]
    except KeyError as exc:
        code, line, detail = describe(exc)
    assert code == 3
    assert line.startswith("KeyError")
    assert "test_cli.py" in line
    assert detail is None
