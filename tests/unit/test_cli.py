"""The command line: help, exit codes and one-line failures, retry rules, start-up defaults."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from advocacy.pipelines import runtime
from advocacy.pipelines.cli import build_parser, main
from advocacy.pipelines.errors import describe, is_ours, is_transient
from advocacy.settings import Settings

REPO = Path(__file__).resolve().parents[2]

SUBCOMMANDS = ("generate", "validate", "train", "score", "run", "serve", "backtest")


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


# ------------------------------------------------------------------ failures: one line, exit code
@pytest.fixture
def clean_env():
    """main() sets environment defaults (setdefault) for Prefect and MLflow: undo them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("windows:\n  response_window_days: [\n", "YAML syntax error"),  # bad YAML
        (
            "windows:\n  response_window_days: -90\n",
            "windows.response_window_days: must be >= 1 (got -90)",
        ),
        (
            "windows:\n  response_window_dayz: 3\n",
            "unknown key (did you mean response_window_days?)",
        ),
        (
            "eligibility:\n  max_detractor_nps: 6\n",
            "eligibility.max_detractor_nps: renamed eligibility.block_nps_at_or_below",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_config_errors_exit_2_with_one_line(tmp_path, capsys, clean_env, text, expected, command):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    code = main(["--config", str(config), command, "--data", str(tmp_path)])
    assert code == 2
    err = _err_lines(capsys)
    assert len(err) == 1, err
    assert err[0].startswith(f"advocacy: error: {config}: ") and expected in err[0]


def test_several_settings_problems_still_one_line(tmp_path, capsys, clean_env):
    config = tmp_path / "bad.yaml"
    config.write_text("windows:\n  response_window_days: -1\n  nps_promoter_min: 9\n")
    assert main(["--config", str(config), "train", "--data", str(tmp_path)]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "response_window_days" in err[0] and "nps_promoter_min" in err[0]


@pytest.mark.parametrize("command", ["run", "score", "train", "validate", "serve"])
def test_missing_data_folder_exits_1_before_prefect(tmp_path, capsys, clean_env, command):
    missing = tmp_path / "nope"
    server = sys.modules.get("prefect.server.api.server")  # another test may have one running
    before = set(server.SubprocessASGIServer._instances.values()) if server else set()
    code = main([command, "--data", str(missing)])
    assert code == 1
    assert _err_lines(capsys) == [f"advocacy: error: data folder does not exist: {missing}"]
    server = sys.modules.get("prefect.server.api.server")
    assert server is None or set(server.SubprocessASGIServer._instances.values()) <= before


def test_data_folder_that_is_a_file_exits_1(tmp_path, capsys, clean_env):
    a_file = tmp_path / "accounts.csv"
    a_file.write_text("x\n")
    assert main(["run", "--data", str(a_file)]) == 1
    assert _err_lines(capsys) == [f"advocacy: error: data folder is a file, not a folder: {a_file}"]


@pytest.mark.parametrize("command", ["score", "run", "serve"])
def test_unsafe_out_folder_exits_2_before_prefect(tmp_path, capsys, clean_env, command):
    (tmp_path / "accounts.csv").write_text("account_id\n")
    home_like = tmp_path / "keep"
    (home_like / "notes").mkdir(parents=True)  # non-empty, not an earlier publish
    code = main([command, "--data", str(tmp_path), "--out", str(home_like)])
    assert code == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and str(home_like) in err[0]


def test_bad_startup_timeout_env_is_a_usage_error(tmp_path, capsys, clean_env, monkeypatch):
    (tmp_path / "accounts.csv").write_text("account_id\n")
    monkeypatch.setenv(runtime.STARTUP_TIMEOUT_ENV, "soon")
    assert main(["score", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert _err_lines(capsys) == [
        f"advocacy: error: {runtime.STARTUP_TIMEOUT_ENV} must be a whole number of seconds >= 1 "
        "(got 'soon')"
    ]


def test_exit_codes_by_exception_class(tmp_path):
    from advocacy.data_contracts.load import DataFolderError
    from advocacy.pipelines.publish import UnsafeOutputError
    from advocacy.settings import SettingsError

    cases = [
        (SettingsError("s.yaml", ["a: must be >= 1 (got 0)", "b: unknown key"]), 2),
        (UnsafeOutputError("refusing to publish into /: it is the filesystem root"), 2),
        (runtime.RuntimeConfigError("bad env"), 2),
        (DataFolderError(None, tmp_path, "data folder does not exist"), 1),
        (runtime.PrefectStartError("Prefect's temporary server did not start"), 3),
        (ValueError("first line\nsecond line\nthird"), 3),
    ]
    for exc, expected in cases:
        code, line, _ = describe(exc)
        assert code == expected, (exc, code)
        assert "\n" not in line
    assert describe(cases[0][0])[1] == "s.yaml: a: must be >= 1 (got 0); b: unknown key"
    assert describe(cases[4][0])[1] == "Prefect's temporary server did not start"  # no "(at"
    assert describe(cases[5][0])[1].startswith("ValueError: first line (at ")


# ------------------------------------------------------------------ where: our frames only
def _raise_from(filename: str, inner: Any = None) -> Any:
    """A function whose code object claims to live in `filename` (calls `inner`, or raises)."""
    src = "def fn(inner):\n    if inner:\n        return inner(None)\n    raise KeyError('x')\n"
    namespace: dict[str, Any] = {}
    exec(compile(src, filename, "exec"), namespace)
    return namespace["fn"]


def test_where_ignores_site_packages_frames_that_look_like_ours():
    ours = str(REPO / "models" / "pretend_train.py")
    theirs = "/venv/lib/python3.11/site-packages/mlflow/models/utils.py"  # has "/models/"
    inner = _raise_from(theirs)
    outer = _raise_from(ours)
    try:
        outer(inner)
    except KeyError as exc:
        code, line, _ = describe(exc)
    assert code == 3
    assert line.endswith("(at models/pretend_train.py:3 in fn)"), line
    assert is_ours(ours) and not is_ours(theirs)
    assert not is_ours(str(REPO / "tests" / "unit" / "test_cli.py"))
    assert not is_ours(str(REPO.parent / "elsewhere" / "pipelines" / "x.py"))


# ------------------------------------------------------------------ retries
@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EROFS, "Read-only file system"),
        OSError(errno.EACCES, "Permission denied"),
        OSError(errno.EPERM, "Operation not permitted"),
        OSError(errno.ENOENT, "No such file or directory"),
        FileNotFoundError("model.pkl"),
        IsADirectoryError(errno.EISDIR, "Is a directory"),
        NotADirectoryError(errno.ENOTDIR, "Not a directory"),
        PermissionError("nope"),
        OSError("Could not open Parquet input source: corrupt footer"),  # no errno: a verdict
        sqlite3.OperationalError("no such table: runs"),
        ValueError("bad value"),
    ],
    ids=repr,
)
def test_errors_that_cannot_go_away_are_not_retried(exc):
    assert not is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError("timed out"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        sqlite3.OperationalError("database is locked"),
        OSError(errno.EIO, "Input/output error"),
        OSError(errno.ESTALE, "Stale file handle"),
    ],
    ids=repr,
)
def test_transient_errors_are_retried(exc):
    assert is_transient(exc)


def test_wrapped_errors_are_judged_by_their_cause():
    def wrapped(outer: Exception, inner: BaseException) -> Exception:
        try:
            raise outer from inner
        except Exception as exc:
            return exc

    full = wrapped(RuntimeError("MLflow failed to log"), OSError(errno.ENOSPC, "disk full"))
    assert not is_transient(full)
    locked = wrapped(RuntimeError("(sqlite3.OperationalError) database is locked"), ValueError())
    assert is_transient(locked)
    busy = wrapped(RuntimeError("x"), sqlite3.OperationalError("database is locked"))
    assert is_transient(busy)


def test_lock_timeouts_that_already_waited_are_not_retried():
    from advocacy.pipelines.publish import PublishBusyError

    assert not is_transient(PublishBusyError("another publisher held the lock for 600 s"))


# ------------------------------------------------------------------ runtime: environment
def test_environment_defaults_do_not_override_the_user(clean_env, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    monkeypatch.setenv("PREFECT_LOGGING_EXTRA_LOGGERS", "mylib")
    monkeypatch.setenv(runtime.STARTUP_TIMEOUT_ENV, "33")
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    runtime.prepare_environment(verbose=False)
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"  # no bars in batch logs
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert os.environ["DO_NOT_TRACK"] == "true"
    assert os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] == "ignore"
    extra = os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"].split(",")
    assert extra[0] == "mylib" and set(runtime.PROJECT_LOGGERS) <= set(extra)
    assert runtime.apply_settings(Settings()) == 33


def test_startup_timeout_default_comes_from_settings(clean_env, monkeypatch):
    monkeypatch.delenv(runtime.STARTUP_TIMEOUT_ENV, raising=False)
    runtime.prepare_environment(verbose=False)
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert runtime.apply_settings(Settings()) == 180
    assert os.environ[runtime.STARTUP_TIMEOUT_ENV] == "180"


def test_data_docs_go_under_the_output_root_unless_configured():
    settings = Settings()
    assert runtime.data_docs_dir(settings) == Path("output") / "validation"
    moved = Settings.model_validate({"output_root": "/srv/advocacy"})
    assert runtime.data_docs_dir(moved) == Path("/srv/advocacy/validation")
    configured = Settings.model_validate({"validation": {"data_docs_dir": "/srv/gx-docs"}})
    assert runtime.data_docs_dir(configured) == Path("/srv/gx-docs")


@pytest.mark.parametrize("command", ["train", "run"])
def test_new_store_flag_reaches_the_flow(command):
    from advocacy.pipelines.cli import build_parser

    assert build_parser().parse_args([command, "--data", "d", "--new-store"]).new_store is True
    assert build_parser().parse_args([command, "--data", "d"]).new_store is False


def test_new_store_flag_lets_settings_allow_a_new_store():
    import inspect

    from advocacy.pipelines import flows

    assert "new_store" in inspect.signature(flows.weekly_flow.fn).parameters
    assert "new_store" in inspect.signature(flows.train_flow.fn).parameters


def test_exit_codes_have_one_definition():
    from advocacy.pipelines import cli, errors

    assert (cli.EXIT_OK, cli.EXIT_CONTRACT) == (errors.EXIT_OK, errors.EXIT_CONTRACT) == (0, 1)
    assert not hasattr(cli, "EXIT_USAGE") and not hasattr(cli, "EXIT_FAILURE")


def test_contract_failure_maps_to_exit_1_with_the_report():
    from advocacy.pipelines.job import ContractError

    class Report:
        tables = ()

        def to_text(self) -> str:
            return "the per-table report"

    code, line, detail = describe(ContractError(Report()))
    assert (code, detail) == (1, "the per-table report")
    assert line.startswith("data contract failed")


def test_policy_frames_are_ours():
    assert is_ours(str(REPO / "policy" / "eligibility.py"))


def test_the_flow_boundary_turns_the_iso_parameter_into_a_date(tmp_path):
    from advocacy.pipelines import flows

    inputs = flows.job_inputs(str(tmp_path), "2026-11-23", None, str(tmp_path / "o"))
    assert inputs.as_of == date(2026, 11, 23) and isinstance(inputs.data, Path)
    assert inputs.out_dir == tmp_path / "o"
    assert flows.job_inputs(str(tmp_path), None, None).out_dir is None


@pytest.mark.parametrize("command", ["run", "score", "train"])
def test_engine_spark_without_java_exits_2_before_prefect(
    tmp_path, capsys, clean_env, monkeypatch, command
):
    from advocacy.data_contracts.tables import TABLES

    for table in TABLES:  # the folder check passes; the engine check comes next
        (tmp_path / f"{table}.csv").write_text("x\n")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-java-here"))
    assert main([command, "--data", str(tmp_path), "--engine", "spark"]) == 2
    assert _err_lines(capsys) == [
        "advocacy: error: --engine spark needs Java 17+: set JAVA_HOME or put java on PATH"
    ]
