"""The real `advocacy` process on failure: the documented exit code and exactly one stderr line.

Each test runs the command in a fresh subprocess (its own PREFECT_HOME, no PREFECT_API_URL), as a
user would; nothing here starts a Prefect server except the start-up time-out test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest


def advocacy(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, list[str], float]:
    """(exit code, non-empty stderr lines, seconds) of `advocacy ARGS` in a fresh process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    full_env["PREFECT_HOME"] = str(cwd / ".prefect-home")
    full_env.update(env or {})
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "advocacy.pipelines.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode, lines, time.monotonic() - started


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """A folder that passes the CLI's cheap data-folder check (one input table file)."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "accounts.csv").write_text("account_id\n")
    return folder


def test_bad_yaml_exits_2_with_one_line(tmp_path, tiny_data):
    config = tmp_path / "bad.yaml"
    config.write_text("windows:\n  recent_days: [\n")
    code, err, _ = advocacy("--config", str(config), "run", "--data", str(tiny_data), cwd=tmp_path)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"advocacy: error: {config}: line 3"), err
    assert "YAML syntax error" in err[0]


def test_bad_value_exits_2_with_one_line(tmp_path, tiny_data):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "advocacy.yaml").write_text("ranking:\n  list_length: 0\n")
    code, err, _ = advocacy("score", "--data", str(tiny_data), cwd=tmp_path)  # default config
    assert code == 2
    assert err == [
        "advocacy: error: config/advocacy.yaml: ranking.list_length: must be >= 1 (got 0)"
    ]


def test_missing_data_folder_exits_1_fast_without_prefect(tmp_path):
    missing = tmp_path / "no-such-folder"
    code, err, seconds = advocacy("run", "--data", str(missing), cwd=tmp_path)
    assert code == 1
    assert err == [f"advocacy: error: data folder does not exist: {missing}"]
    assert seconds < 20, f"took {seconds:.1f} s: Prefect must not start first"
    code, err, _ = advocacy("-v", "train", "--data", str(missing), cwd=tmp_path)
    assert code == 1 and not any("temporary server" in line for line in err), err
    assert not (tmp_path / ".prefect-home").exists()


def _processes_with_home(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("PREFECT_HOME") == str(home):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.mark.slow  # starts Prefect's server twice (~10 s)
def test_startup_timeout_retries_once_then_one_line(tmp_path, tiny_data):
    """A 1 s start-up timeout cannot be met: one retry (said once), then exit 3, one line."""
    env = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"}
    args = ("score", "--data", str(tiny_data), "--out", str(tmp_path / "o"))
    code, err, _ = advocacy(*args, cwd=tmp_path, env=env)
    assert code == 3, err
    assert err == [
        "advocacy: Prefect's temporary server did not start within 1 s; trying once more",
        "advocacy: error: Prefect's temporary server did not start within 1 s (tried twice): "
        "raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (set in the environment), or set "
        "PREFECT_API_URL to a running Prefect server (`prefect server start`)",
    ]
    assert not (tmp_path / "o").exists()
    time.sleep(0.5)
    assert _processes_with_home(tmp_path / ".prefect-home") == []  # both servers stopped


def test_unreachable_prefect_api_exits_3_with_one_line(tmp_path, tiny_data):
    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}
    code, err, _ = advocacy("train", "--data", str(tiny_data), cwd=tmp_path, env=env)
    assert code == 3
    assert len(err) == 1, err
    assert err[0].startswith("advocacy: error: cannot reach the Prefect server at PREFECT_API_URL")
