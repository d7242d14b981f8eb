"""Progress lines: one per stage on a terminal (name, rows, seconds), none elsewhere or with -q."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from advocacy.pipelines import progress
from advocacy.pipelines.progress import Progress, ProgressRunner, rows_of, step_name, wrap
from tests.contract_worlds import AS_OF, valid_frames, write_folder

REPO = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Plain:
    """A job Runner stand-in: calls the step, remembers the summaries it was given."""

    def __init__(self) -> None:
        self.summaries: list[str] = []

    def step(self, fn, /, *args, **kwargs):
        return fn(*args, **kwargs)

    def trained(self, as_of, outcomes) -> None:
        self.summaries.append("trained")


def build_rows(n: int):
    import pandas as pd

    return pd.DataFrame({"x": range(n)})


def test_a_stage_line_names_stage_rows_and_seconds():
    out = Terminal()
    with Progress(out).stage("build rows") as stage:
        stage.rows = 12345
    line = out.getvalue().splitlines()[-1]
    assert "build rows" in line and "12,345 rows" in line and line.rstrip().endswith(" s")


def test_nothing_without_a_terminal_or_with_quiet():
    for shown in (Progress(io.StringIO()), Progress(Terminal(), quiet=True)):
        with shown.stage("build rows") as stage:
            stage.rows = 3
        assert shown.enabled is False and shown.stream.getvalue() == ""


def test_runner_reports_each_step_and_delegates_summaries():
    out, inner = Terminal(), Plain()
    runner = wrap(inner, Progress(out))
    assert isinstance(runner, ProgressRunner) and wrap(runner, Progress(out)) is runner
    frame = runner.step(build_rows, 7)
    runner.trained(AS_OF, [])
    assert len(frame) == 7 and inner.summaries == ["trained"]
    assert "build rows" in out.getvalue() and "7 rows" in out.getvalue()
    assert wrap(inner, Progress(io.StringIO())) is inner  # not a terminal: not wrapped


def test_step_names_and_row_counts():
    class Spec:
        name = "advocate"

    class Target:
        spec = Spec()

    assert step_name(build_rows, (Target(),)) == "build rows advocate"
    assert rows_of([{"table": "a", "rows": 2}, {"table": "b", "rows": 3}]) == 5
    assert rows_of("published") is None

    class Fitted:
        def __init__(self, rows: int) -> None:
            self.refit_rows = rows

    assert rows_of(Fitted(4)) == 4 and rows_of([Fitted(4), Fitted(6)]) == 10  # fit_models


def test_the_bar_follows_duckdb_query_progress():
    con = duckdb.connect()
    stage = progress.Stage("validate usage_events")
    stop = progress.watch_query(con, stage)
    con.execute("SELECT count(*) FROM range(20000000) t(i) WHERE i % 7 = 3").fetchall()
    stop()  # no query left: the poller ends cleanly; fraction is None or within 0..1
    assert stage.fraction is None or 0.0 <= stage.fraction <= 1.0


def _validate_cmd(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "advocacy.pipelines.cli", *extra, "validate",
            "--data", str(folder), "--as-of", AS_OF.isoformat(),
            "--docs-dir", str(folder.parent / "docs")]  # fmt: skip


def _on_a_terminal(cmd: list[str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; stdout piped."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, cwd=REPO, text=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    code = proc.wait()
    os.close(leader)
    return code, out, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(valid_frames(), tmp_path_factory.mktemp("progress") / "data")


def test_validate_shows_a_line_per_table_on_a_terminal(folder):
    code, out, err = _on_a_terminal(_validate_cmd(folder))
    assert code == 0, err
    assert "PASSED" in out and "validate usage_events" not in out  # stdout keeps the report
    for table in ("accounts", "usage_events", "advocacy_activities"):
        assert f"validate {table}" in err
    assert " rows " in err


def test_no_lines_when_piped_or_quiet(folder):
    piped = subprocess.run(_validate_cmd(folder), capture_output=True, text=True, cwd=REPO)
    assert piped.returncode == 0 and "validate usage_events" not in piped.stderr
    code, _, err = _on_a_terminal(_validate_cmd(folder, "--quiet"))
    assert code == 0 and "validate usage_events" not in err
