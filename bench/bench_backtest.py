"""Time `advocacy backtest` on a generated world: seconds per date and in total.

    nice -n 10 .venv/bin/python bench/bench_backtest.py --contacts 20000 --seed 7 \\
        --from 2026-05-04 --to 2026-09-14 --work /tmp/h1bench

Generates the world into WORK/data (if missing), uses a fresh MLflow store in WORK, publishes
into WORK/out; prints one line per date and the total (docs/backtest.md records them).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import date
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 12, 3))
    p.add_argument("--from", dest="start", type=date.fromisoformat, default=date(2026, 5, 4))
    p.add_argument("--to", dest="end", type=date.fromisoformat, default=date(2026, 9, 14))
    p.add_argument("--every", type=int, default=7)
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_backtest"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{args.work / 'mlflow.db'}")
    args.work.mkdir(parents=True, exist_ok=True)

    from advocacy.pipelines import backtest, job
    from advocacy.settings import load_settings
    from advocacy.synthetic.world import generate

    data = args.work / "data"
    if not data.exists():
        began = time.perf_counter()
        generate(data, contacts=args.contacts, seed=args.seed, as_of=args.as_of)
        print(f"generated {args.contacts} contacts in {time.perf_counter() - began:.1f} s")
    settings = job.with_new_store(load_settings(None))
    inputs = backtest.BacktestInputs(
        data=data, start=args.start, end=args.end, every=args.every,
        out_dir=args.work / "out", settings=settings,
    )  # fmt: skip
    began = time.perf_counter()
    result = backtest.run_backtest(inputs)
    total = time.perf_counter() - began
    for d, s in zip(result.dates, result.seconds, strict=True):
        print(f"  {d.isoformat()}  {s:6.1f} s")
    per = sum(result.seconds) / len(result.seconds)
    print(
        f"{len(result.dates)} dates: total {total:.1f} s (mean {per:.1f} s per date; "
        f"the rest is the one contract check, tracking and the CSV/HTML)"
    )


if __name__ == "__main__":
    main()
