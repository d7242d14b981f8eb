"""Prefect at run time, for real: project log lines in the run logs, signals stop the server.

No mocks of Prefect: a tiny flow against the test harness's API, and `advocacy` subprocesses
with their own temporary Prefect server (own PREFECT_HOME, no PREFECT_API_URL).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import psutil
import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from advocacy.pipelines import job, publish, runtime

pytestmark = pytest.mark.slow  # starts Prefect servers (~70 s for the file)


# ------------------------------------------------------------------ logs
def test_project_log_lines_reach_the_prefect_run_logs(prefect_harness, tmp_path, capsys):
    runtime.configure_logging(verbose=False)  # what `advocacy` does: a quiet terminal

    @flow(name="tiny-logging-flow")
    def tiny(target: str) -> str:
        runtime.route_project_logs()  # as every flow's `_start` does
        published = publish.publish_atomically(target, lambda d: (d / "x.txt").write_text("x"))
        logging.getLogger("advocacy.features.build").info("features line %d", 1)
        logging.getLogger("advocacy.models.train").info("models line")
        logging.getLogger("advocacy.data_contracts.validate").info("contracts line")
        logging.getLogger("advocacy.pipelines.flows").debug("debug stays out")
        return str(published)

    state = tiny(str(tmp_path / "out"), return_state=True)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    APILogHandler().flush()  # send what is queued now

    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    names: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            names = {log.name: log.message for log in client.read_logs(log_filter=log_filter)}
        if {
            "advocacy.pipelines.publish",
            "advocacy.features.build",
            "advocacy.models.train",
        } <= set(names):
            break
        time.sleep(0.5)
    assert f"published {tmp_path / 'out'}" in names.get("advocacy.pipelines.publish", "")
    assert "features line 1" in names.get("advocacy.features.build", "")
    assert "models line" in names.get("advocacy.models.train", "")
    assert "contracts line" in names.get("advocacy.data_contracts.validate", "")
    assert not any("debug stays out" in m for m in names.values())
    err = capsys.readouterr().err
    assert "features line" not in err and "published" not in err  # terminal stays quiet
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # outside a run: not sent, and no "without a flow" warning
        logging.getLogger("advocacy.features.build").info("outside any flow")


def test_extra_loggers_are_attached_when_prefect_is_imported_later(tmp_path):
    """The `advocacy serve` case: a fresh process that imports Prefect after the CLI's env."""
    code = (
        "import logging\n"
        "from advocacy.pipelines import runtime\n"
        "runtime.prepare_environment(verbose=False)\n"
        "from prefect import flow  # noqa: F401  (imports prefect.main: logging set up)\n"
        "from prefect.logging.handlers import APILogHandler\n"
        "missing = [n for n in runtime.PROJECT_LOGGERS if not any(\n"
        "    isinstance(h, APILogHandler) for h in logging.getLogger(n).handlers)]\n"
        "assert not missing, missing\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_a_background_fit_logs_into_the_task_run_that_started_it(prefect_harness):
    """`job.fit_models` fits the first target in a thread of its own: its log lines (the
    holdout metrics, the split) must still reach the Prefect run, not only the terminal."""
    runtime.configure_logging(verbose=False)

    @task(name="tiny-background-task")
    def work() -> str:
        wait = job._in_background(
            lambda: logging.getLogger("advocacy.models.train").info("background line") or 7
        )
        value, error = wait()
        assert error is None
        return f"{value} {threading.current_thread().name}"

    @flow(name="tiny-background-flow")
    def tiny() -> str:
        runtime.route_project_logs()
        return work()

    state = tiny(return_state=True)
    assert state.is_completed() and state.result().startswith("7 ")
    APILogHandler().flush()
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
    found: list[object] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not found:
        with get_client(sync_client=True) as client:
            found = [
                log
                for log in client.read_logs(log_filter=log_filter)
                if log.message == "background line"
            ]
        time.sleep(0.5)
    assert found and found[0].task_run_id is not None  # in the task's run, not just the flow's


# ------------------------------------------------------------------ retries
@pytest.mark.parametrize(
    ("error", "runs"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 1),
        (OSError(errno.EROFS, "Read-only file system"), 1),
        (PermissionError(errno.EACCES, "Permission denied"), 1),
        (sqlite3.OperationalError("database is locked"), 3),  # 1 + IO_RETRIES["retries"]
    ],
    ids=lambda v: repr(v) if isinstance(v, BaseException) else str(v),
)
def test_io_tasks_retry_only_errors_that_may_go_away(prefect_harness, error, runs):
    from advocacy.pipelines.flows import IO_RETRIES

    calls = []

    @task(**{**IO_RETRIES, "retry_delay_seconds": 0})
    def reads_files() -> None:
        calls.append(1)
        raise error

    @flow
    def one_task() -> None:
        reads_files()

    state = one_task(return_state=True)
    assert state.is_failed()
    assert len(calls) == runs


# ------------------------------------------------------------------ signals
class Advocacy:
    """`advocacy -v ARGS` in the background, its stderr collected line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.home = cwd / ".prefect-home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PREFECT_HOME"] = str(self.home)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd / 'mlflow.db'}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "advocacy.pipelines.cli", "-v", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, "exited early:\n" + "\n".join(self.lines[-30:])
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "\n".join(self.lines)
            time.sleep(0.2)

    def server_children(self) -> list[psutil.Process]:
        kids = psutil.Process(self.proc.pid).children(recursive=True)
        return [k for k in kids if "prefect.server.api.server:create_app" in " ".join(k.cmdline())]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _gone(procs: list[psutil.Process], timeout: float = 15) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return not alive


@pytest.mark.xfail(
    strict=False,
    reason="known race, under investigation: under `pytest -n 2` load a SIGTERM sent while the "
    "flow validates is sometimes not seen by the CLI's handler (the run completes, exit 0); "
    "alone and under `make demo` load it passes",
)
def test_sigterm_during_the_flow_stops_the_server_and_keeps_the_logs(world_dir, as_of, tmp_path):
    args = ["run", "--data", str(world_dir), "--as-of", as_of.isoformat(), "--out", "o"]
    job = Advocacy(args, tmp_path)
    try:
        job.wait_for("advocacy.data_contracts.validate: accounts:")  # inside the flow, logging
        servers = job.server_children()
        assert len(servers) == 1
        job.proc.send_signal(signal.SIGTERM)
        assert job.proc.wait(timeout=90) == 128 + signal.SIGTERM, "\n".join(job.lines[-80:])
    finally:
        job.stop()
    assert _gone(servers), "Prefect's temporary server outlived the run"
    assert "advocacy: stopped by SIGTERM" in job.lines
    assert not (tmp_path / "o").exists()
    with sqlite3.connect(job.home / "prefect.db") as db:
        states = db.execute("SELECT state_type FROM flow_run").fetchall()
        logged = {row[0] for row in db.execute("SELECT name FROM log")}
    assert states == [("CRASHED",)]
    assert "advocacy.data_contracts.validate" in logged  # the project's lines are in the run's logs


def test_sighup_while_prefect_starts_stops_the_server(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "accounts.csv").write_text("account_id\n")
    job = Advocacy(["score", "--data", str(data), "--out", "o"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (servers := job.server_children()):
            assert job.proc.poll() is None and time.monotonic() < deadline, job.lines
            time.sleep(0.1)
        job.proc.send_signal(signal.SIGHUP)
        assert job.proc.wait(timeout=60) == 128 + signal.SIGHUP
    finally:
        job.stop()
    assert _gone(servers), "Prefect's temporary server outlived the run"
    assert "advocacy: stopped by SIGHUP" in job.lines
