"""Progress on the terminal: one line per stage (name, rows, seconds), a live bar meanwhile.

A user who starts `advocacy run` on a million contacts otherwise waits minutes in silence
without `-v`. The lines go to stderr (stdout keeps the report and the published paths) and
only when stderr is a terminal and `--quiet` is not given: batch logs and pipes get nothing.
While a stage runs, a transient `rich` bar shows its elapsed time; where the work is one
DuckDB query (the pushed-down contract checks), the bar follows DuckDB's own query progress.

`ProgressRunner` wraps the job's `Runner` (`pipelines/job.py`), so every step of `run`,
`train` and `score` reports itself; `TableLines` is the `validate_folder` progress hook.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import duckdb

POLL_SECONDS = 0.2


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


@dataclass
class Stage:
    """A running stage: what it reports when it ends, and its progress so far (0..1)."""

    name: str
    rows: int | None = None
    fraction: float | None = None


def stage_line(stage: Stage, seconds: float) -> str:
    """`  check contracts          10,167,182 rows     3.1 s` (no rows part when unknown)."""
    rows = f"{stage.rows:>14,} rows" if stage.rows is not None else " " * 19
    return f"  {stage.name:<28}{rows}  {seconds:7.1f} s"


class Progress:
    """Stage lines and live bars on `stream` (stderr), or nothing when not enabled."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream
        self.enabled = not quiet and is_terminal(self.stream)

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Time the block; show a bar while it runs and its line when it ends (none on error)."""
        stage, began = Stage(name), time.perf_counter()
        if not self.enabled:
            yield stage
            return
        with self._bar(stage):
            try:
                yield stage
            finally:
                seconds = time.perf_counter() - began
        self.stream.write(stage_line(stage, seconds) + "\n")
        self.stream.flush()

    @contextlib.contextmanager
    def _bar(self, stage: Stage) -> Iterator[None]:
        from rich.console import Console
        from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        console = Console(file=self.stream, stderr=True)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
        with Bar(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(stage.name, total=None)
            stop = threading.Event()

            def follow() -> None:  # the bar follows stage.fraction once someone sets it
                while not stop.wait(POLL_SECONDS):
                    if stage.fraction is not None:
                        bar.update(task, total=1.0, completed=stage.fraction)

            watcher = threading.Thread(target=follow, daemon=True)
            watcher.start()
            try:
                yield
            finally:
                stop.set()
                watcher.join()


def watch_query(con: duckdb.DuckDBPyConnection, stage: Stage) -> Callable[[], None]:
    """Follow DuckDB's progress of the query running on `con`; returns the stop function.

    `query_progress()` may be called from another thread while a query runs (-1: none).
    """
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL_SECONDS):
            with contextlib.suppress(duckdb.Error):
                done = con.query_progress()
                if done >= 0:
                    stage.fraction = min(done / 100.0, 1.0)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join()

    return end


class TableLines:
    """The `validate_folder` progress hook: one stage per table, DuckDB progress as the bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._open: contextlib.ExitStack | None = None
        self._stage: Stage | None = None

    def table_started(self, table: str, con: duckdb.DuckDBPyConnection) -> None:
        self._open = contextlib.ExitStack()
        self._stage = self._open.enter_context(self.progress.stage(f"validate {table}"))
        if self.progress.enabled:
            self._open.callback(watch_query(con, self._stage))

    def table_done(self, table: str, rows: int, seconds: float) -> None:
        if self._stage is not None:
            self._stage.rows = rows
        if self._open is not None:
            self._open.close()
        self._open = self._stage = None


def step_name(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """`fit model advocate`: the step's name, and its target when it has one."""
    name = fn.__name__.replace("_", " ")
    spec = getattr(args[0], "spec", None) if args else None
    return f"{name} {spec.name}" if getattr(spec, "name", None) else name


def rows_of(result: Any) -> int | None:
    """The rows a step produced or read, where that is a count at all."""
    if hasattr(result, "tables"):  # a ValidationReport
        return sum(int(getattr(t, "rows", 0)) for t in result.tables)
    if hasattr(result, "training") and hasattr(result, "scoring"):  # the job's Rows
        rows = sum(len(r.frame) for r in result.training)
        return rows + (len(result.scoring.features) if result.scoring is not None else 0)
    if isinstance(getattr(result, "refit_rows", None), int):  # a fitted target
        return int(result.refit_rows)
    if isinstance(result, list) and result and all(hasattr(f, "refit_rows") for f in result):
        return sum(int(f.refit_rows) for f in result)  # every target's fit
    if (
        isinstance(result, list)
        and result
        and all(isinstance(p, dict) and "rows" in p for p in result)
    ):
        return sum(int(p["rows"]) for p in result)  # the input profiles
    if hasattr(result, "shape") and hasattr(result, "columns"):  # a frame
        return len(result)
    return None


class ProgressRunner:
    """A job `Runner` that reports each step as a stage and delegates the rest to `inner`."""

    def __init__(self, inner: Any, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def step(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        with self.progress.stage(step_name(fn, args)) as stage:
            result = self.inner.step(fn, *args, **kwargs)
            stage.rows = rows_of(result)
        return result

    def __getattr__(self, name: str) -> Any:  # contracts_checked, trained, published
        return getattr(self.inner, name)


def wrap(runner: Any, progress: Progress) -> Any:
    """`runner` reporting its steps when progress is shown (never wrapped twice)."""
    if not progress.enabled or isinstance(runner, ProgressRunner):
        return runner
    return ProgressRunner(runner, progress)
