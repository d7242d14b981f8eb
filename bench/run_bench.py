"""Time every stage of the weekly job at scale: seconds, rows/s and peak memory per stage.

    python bench/run_bench.py --contacts 100000            # generates a world first
    python bench/run_bench.py --data DIR --as-of 2026-11-23

The stages are the steps of the plain-Python weekly job (`advocacy.pipelines.job`, the code
the Prefect flow runs task by task), each timed through the job's `Runner` hook, into a
fresh MLflow store and output folder under a temp dir; plus the floor any correct pipeline
pays: one plain DuckDB daily roll-up of usage_events.
Results go to stdout and bench/results/<date>-<contacts>.json; docs/benchmarks.md keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class PeakRSS:
    """Samples this process's RSS every 20 ms; `peak` is the highest seen in the block."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


RESULTS: list[dict[str, Any]] = []


def stage(name: str, fn: Callable[[], Any], rows: Callable[[Any], int]) -> Any:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
    n = rows(out)
    RESULTS.append(
        {"stage": name, "seconds": round(secs, 2), "rows": n,
         "rows_per_s": round(n / secs) if secs else None, "peak_rss_gb": round(mem.peak / 2**30, 2)}
    )  # fmt: skip
    r = RESULTS[-1]
    print(f"{name:<28} {secs:>9.2f} s {n:>13,} rows {r['rows_per_s'] or 0:>12,} rows/s "
          f"peak RSS {r['peak_rss_gb']:>6.2f} GB", flush=True)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--data", type=Path, help="existing data folder (skips generation)")
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", choices=("duckdb", "spark"), help="engine.name (default duckdb)")
    ap.add_argument("--out", type=Path, help="publish here (default: a temp folder)")
    ap.add_argument("--config", type=Path, help="settings YAML (default: the built-in defaults)")
    ap.add_argument(
        "--threads",
        type=int,
        help="LightGBM threads (sets ADVOCACY_NUM_THREADS; default: the settings', 0 = all)",
    )
    args = ap.parse_args()
    if args.threads is not None:
        os.environ["ADVOCACY_NUM_THREADS"] = str(args.threads)
    from advocacy.pipelines.runtime import prepare_environment

    prepare_environment(verbose=False)  # the CLI's environment (OMP_WAIT_POLICY=PASSIVE, ...)

    from advocacy.settings import Settings, load_settings

    settings = load_settings(args.config) if args.config else Settings()
    if args.engine:
        from advocacy.pipelines.job import with_engine

        settings = with_engine(settings, args.engine)
    print(f"settings: training.num_threads={settings.training.num_threads}, {settings.engine}")
    work = Path(tempfile.mkdtemp(prefix="advocacy-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"  # a fresh store
    data = args.data
    if data is None:
        from advocacy.synthetic.world import generate

        data = work / "data"
        stage(
            "generate",
            lambda: generate(data, contacts=args.contacts, seed=args.seed, as_of=args.as_of),
            lambda rows: sum(rows.values()),
        )
    run_stages(data, args.as_of, settings, work, args.out)
    save(args, data, settings)


def floor(data: Path, as_of: date, name: str = "floor: daily usage roll-up") -> None:
    """The roll-up any correct pipeline pays, on its own connection."""
    from advocacy.data_contracts.load import connect

    con = connect(data)
    try:
        n_events = con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
        sql = (
            "CREATE OR REPLACE TEMP TABLE _floor AS SELECT contact_id, "
            "CAST(occurred_at AS DATE) AS d, event, count(*) AS n FROM usage_events "
            f"WHERE occurred_at < TIMESTAMP '{as_of}' GROUP BY ALL"
        )
        stage(name, lambda: con.execute(sql), lambda _: n_events)
    finally:
        con.close()


def run_stages(data: Path, as_of: date, settings: Any, work: Path, out: Path | None) -> None:
    """The floor, the weekly job with every step timed (its outputs under `work`), the floor
    again: on this machine one floor varied 21-32 s between runs, so the multiple is of the
    mean of the two around the job."""
    from advocacy.pipelines import job

    floor(data, as_of)
    inputs = job.JobInputs(
        data=data, as_of=as_of, settings=job.with_new_store(settings),
        out_dir=out or work / "out", docs_dir=work / "docs",
    )  # fmt: skip
    start = len(RESULTS)
    job.weekly_job(inputs, timed_runner(job))
    seconds = sum(r["seconds"] for r in RESULTS[start:])
    floor(data, as_of, "floor again, after the job")
    floors = [r["seconds"] for r in RESULTS if r["stage"].startswith("floor")]
    mean = sum(floors) / len(floors)
    print(f"the job: {seconds:.1f} s = {seconds / mean:.1f}x the floor (mean {mean:.1f} s)")


def _rows_built(rows: Any) -> int:
    scoring = len(rows.scoring.features) if rows.scoring is not None else 0
    return sum(len(r.frame) for r in rows.training) + scoring


def timed_runner(job: Any) -> Any:
    """A `job.Runner` whose steps are plain calls, each timed and printed as one stage."""
    labels: dict[Callable[..., Any], tuple[str, Callable[..., int]]] = {
        job.check_contracts: ("validate (GX, all tables)", lambda r: sum(t.rows for t in r.tables)),
        job.build_rows: ("features: all rows", _rows_built),  # one connection, one roll-up
        job.fit_models: ("train: every target", lambda fitted: sum(f.refit_rows for f in fitted)),
        job.register_model: ("register", lambda _: 0),
        job.score_and_rank: ("score + reasons + rank", len),
        job.make_shortlist: ("ask plan + shortlist", lambda s: len(s.candidates)),
    }

    class TimedRunner(job.Runner):
        def step(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            name, rows = labels.get(fn, (fn.__name__.replace("_", " "), lambda _: 0))
            if fn is job.register_model:  # one per target
                name = f"{name}: {args[0].spec.name}"
            return stage(name, lambda: fn(*args, **kwargs), rows)

    return TimedRunner()


def save(args: argparse.Namespace, data: Path, settings: Any) -> None:
    machine = {
        "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],  # other jobs' share
    }  # fmt: skip
    knobs = {
        "training.num_threads": settings.training.num_threads,
        **{f"engine.{k}": v for k, v in settings.engine.model_dump().items()},
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    engine = settings.engine.name
    path = out / f"{stamp}-{args.contacts}{'' if engine == 'duckdb' else '-' + engine}.json"
    result = {"date": stamp, "data": str(data), "machine": machine, "settings": knobs}
    path.write_text(json.dumps({**result, "stages": RESULTS}, indent=2))
    total = sum(r["seconds"] for r in RESULTS if r["stage"] != "generate")  # floors included
    print(f"total (without generate): {total:.1f} s; machine {machine}; saved {path}")


if __name__ == "__main__":
    main()
