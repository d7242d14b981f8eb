"""Time the feature stage against its floor: one plain DuckDB daily roll-up of usage_events.

    python bench/bench_features.py --data DIR --as-of 2026-11-23 [--markdown]

Each stage runs in a fresh subprocess with a fresh connection (cold DuckDB caches, its own
peak RSS), `--repeat` times; the fastest run is reported (the machine is shared, so the
minimum is the least noisy estimate). `all four` is the four builders on one connection,
where the usage roll-up is built once and shared; `train` and `score` are the pairs that
the pipeline's two flow tasks build on one connection each. The budget
(docs/benchmarks.md): each builder <= 2x the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR_SQL = (
    "CREATE TEMP TABLE _floor AS SELECT contact_id, occurred_at::DATE AS d, event, count(*) AS n "
    "FROM usage_events GROUP BY ALL"
)
STAGES = ("floor", "advocate", "burnout", "scoring", "eligibility", "train", "score", "all")
# Stages that run several builders on one connection, as the pipeline's flow tasks do.
GROUPS = {
    "train": ("advocate", "burnout"),
    "score": ("scoring", "eligibility"),
    "all": ("advocate", "burnout", "scoring", "eligibility"),
}
LABELS = {
    "floor": "plain daily roll-up (floor)",
    "advocate": "advocate training rows",
    "burnout": "burnout training rows",
    "scoring": "scoring rows",
    "eligibility": "eligibility facts",
    "train": "advocate + burnout, one connection",
    "score": "scoring + eligibility, one connection",
    "all": "all four, one connection",
}


def _run_stage(stage: str, data: Path, as_of: date) -> dict:
    """Run one stage in this process; rows produced and wall seconds."""
    sys.path.insert(0, str(ROOT))
    from advocacy.data_contracts.load import connect
    from advocacy.features import build
    from advocacy.features import facts as facts_mod
    from advocacy.settings import Settings

    settings = Settings()
    con = connect(data)
    builders = {
        "advocate": build.build_advocate_training,
        "burnout": build.build_burnout_training,
        "scoring": build.build_scoring,
        "eligibility": facts_mod.eligibility_facts,
    }
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    if stage == "floor":
        con.execute(FLOOR_SQL)
        rows = con.execute("SELECT count(*) FROM _floor").fetchall()[0][0]
    elif stage in GROUPS:
        rows = sum(len(builders[b](con, as_of, settings)) for b in GROUPS[stage])
    else:
        rows = len(builders[stage](con, as_of, settings))
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "stage": stage,
        "seconds": seconds,
        "cpu": cpu,
        "rows": int(rows),
        "peak_rss_mb": peak_mb,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _spawn(stage: str, data: Path, as_of: date, repeat: int) -> dict:
    """The fastest of `repeat` fresh-process runs of one stage."""
    cmd = [sys.executable, __file__, "--data", str(data), "--as-of", as_of.isoformat()]
    runs = []
    for _ in range(repeat):
        out = subprocess.run([*cmd, "--stage", stage], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def _table(results: list[dict], markdown: bool) -> str:
    floor = next(r["seconds"] for r in results if r["stage"] == "floor")
    head = "| stage | wall s | x floor | CPU s | rows | rows/s | peak RSS MB |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"] if markdown else [head]
    for r in results:
        rate = r["rows"] / r["seconds"] if r["seconds"] else float("nan")
        lines.append(
            f"| {LABELS[r['stage']]} | {r['seconds']:.2f} | {r['seconds'] / floor:.2f} "
            f"| {r['cpu']:.1f} | {r['rows']:,} | {rate:,.0f} | {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; the fastest counts")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    if args.stage:
        print(json.dumps(_run_stage(args.stage, args.data, args.as_of)))
        return 0
    stages = ["floor", *(s for s in args.stages.split(",") if s != "floor")]
    results = [_spawn(s, args.data, args.as_of, args.repeat) for s in stages]
    print(
        f"data={args.data} as_of={args.as_of} python={platform.python_version()} "
        f"cores={os.cpu_count()} repeat={args.repeat} (fastest run shown)"
    )
    print(_table(results, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
