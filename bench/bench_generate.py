"""Time the synthetic generator at one scale: wall time, peak RSS, rows and bytes written.

    python bench/bench_generate.py --contacts 100000
    python bench/bench_generate.py --contacts 1000000 --out /tmp/world-1m --keep

Run one scale per process, so the peak RSS printed belongs to that scale alone.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from advocacy.synthetic.world import generate

BENCH_AS_OF = date(2026, 11, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--out", type=Path, help="output folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-generate-"))
    started = time.perf_counter()
    rows = generate(out, contacts=args.contacts, seed=args.seed, as_of=BENCH_AS_OF, fmt=args.format)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print("| contacts | format | wall (s) | peak RSS (MB) | usage rows | all rows | on disk (MB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    print(
        f"| {args.contacts:,} | {args.format} | {seconds:.1f} | {peak_mb:,.0f} "
        f"| {rows['usage_events']:,} | {sum(rows.values()):,} | {size_mb:,.0f} |"
    )
    for table, n in rows.items():
        print(f"  {table:<22} {n:>12,}")
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
