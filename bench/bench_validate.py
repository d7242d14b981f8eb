"""Time `validate_folder` on a generated world against the floor: seconds, rows/s, peak RSS.

    python bench/bench_validate.py --contacts 100000            # generates a world first
    python bench/bench_validate.py --data DIR [--batch-rows N] [--no-docs] [--repeat N]

The world is generated into --work (reused when it is already there). The floor (one plain
DuckDB daily roll-up of usage_events, the cost any correct pipeline pays) and the validation
each run in a fresh subprocess, alternating `--repeat` times, so each peak RSS is its own and
both see the same machine load; the best of the repeats is reported as a multiple of the floor.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 23)


def _world(contacts: int, work: Path, fmt: str, seed: int) -> Path:
    """A generated folder of `contacts` contacts, made once and reused."""
    sys.path.insert(0, str(ROOT))
    from advocacy.synthetic.world import generate

    folder = work / f"world-{contacts}-{fmt}"
    if not (folder / f"usage_events.{fmt}").exists():
        started = time.perf_counter()
        rows = generate(folder, contacts=contacts, seed=seed, as_of=AS_OF, fmt=fmt)
        print(f"generated {folder} in {time.perf_counter() - started:.1f} s: {rows}")
    return folder


FLOOR_SQL = (
    "CREATE TEMP TABLE _floor AS SELECT contact_id, CAST(occurred_at AS DATE) AS d, event, "
    "count(*) AS n FROM usage_events GROUP BY ALL"
)


def _floor(data: Path) -> dict:
    """The floor in this process: wall seconds, usage rows, peak RSS (MB)."""
    sys.path.insert(0, str(ROOT))
    from advocacy.data_contracts.load import connect

    con = connect(data)
    rows = con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    t0 = time.perf_counter()
    con.execute(FLOOR_SQL)
    seconds = time.perf_counter() - t0
    return {
        "stage": "floor",
        "rows": rows,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _measure(data: Path, batch_rows: int | None, docs: bool, docs_dir: Path) -> dict:
    """Validate in this process; wall seconds, rows, peak RSS (MB)."""
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    from advocacy.data_contracts.validate import validate_folder
    from advocacy.settings import Settings

    imported = time.perf_counter() - t0
    settings = Settings()
    if batch_rows:
        settings = settings.model_copy(
            update={"validation": settings.validation.model_copy(update={"batch_rows": batch_rows})}
        )
    report = validate_folder(data, settings, docs_dir=docs_dir, as_of=AS_OF, write_docs=docs)
    rows = sum(t.rows for t in report.tables)
    return {
        "stage": "validate",
        "data": str(data),
        "ok": report.ok,
        "rows": rows,
        "rows_by_table": {t.table: t.rows for t in report.tables},
        "seconds": round(report.seconds, 2),
        "rows_per_s": round(rows / report.seconds),
        "import_seconds": round(imported, 2),
        "batch_rows": settings.validation.batch_rows,
        "data_docs": str(report.data_docs_index) if report.data_docs_index else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="validate this folder instead of generating")
    parser.add_argument("--work", type=Path, default=Path("/tmp/advocacy-bench"))
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-rows", type=int)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="alternate floor/validate N times")
    parser.add_argument("--child", choices=("floor", "validate"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "floor":
        print(json.dumps(_floor(args.data)))
        return 0
    if args.child == "validate":
        result = _measure(args.data, args.batch_rows, not args.no_docs, args.work / "docs")
        print(json.dumps(result))
        return 0
    data = args.data or _world(args.contacts, args.work, args.format, args.seed)
    runs: dict[str, list[dict]] = {"floor": [], "validate": []}
    for _ in range(args.repeat):
        for child in runs:
            runs[child].append(_child(child, data, args))
    floor, result = (min(runs[k], key=lambda r: r["seconds"]) for k in ("floor", "validate"))
    result["floor_seconds"] = floor["seconds"]
    result["floor_peak_rss_mb"] = floor["peak_rss_mb"]
    result["x_floor"] = round(result["seconds"] / floor["seconds"], 2)
    result["all_seconds"] = {k: [r["seconds"] for r in v] for k, v in runs.items()}
    print(json.dumps(result, indent=2))
    print(
        f"validate {result['rows']:,} rows: {result['seconds']} s "
        f"({result['x_floor']}x the floor, {floor['seconds']} s), "
        f"{result['rows_per_s']:,} rows/s, peak RSS {result['peak_rss_mb']} MB"
    )
    return 0 if result["ok"] else 1


def _child(child: str, data: Path, args: argparse.Namespace) -> dict:
    """One floor or validation run in a fresh interpreter (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--child", child, "--data", str(data)]
    cmd += ["--work", str(args.work)]
    cmd += ["--batch-rows", str(args.batch_rows)] if args.batch_rows else []
    cmd += ["--no-docs"] if args.no_docs else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
