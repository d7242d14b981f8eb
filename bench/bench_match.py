"""Time one `advocacy match --opportunity` answer against a 1M-row advocates.parquet.

    python bench/bench_match.py [--rows 1000000] [--repeat 20] [--work /tmp/bench-match]

Writes a synthetic run folder (advocates.parquet with `--rows` advocates, the published
schema) and a data folder with 50 opportunities, then measures, median of `--repeat`:
- cold: what the CLI does per call: read advocates.parquet + the opportunity row + answer;
- warm: what the API does per request once the run is loaded: the opportunity row + answer;
- cli: the whole `advocacy match` process (Python start-up and imports included), 3 runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 23)
SEGMENTS = ("smb", "mid_market", "enterprise")
INDUSTRIES = ("software", "financial_services", "healthcare", "retail", "manufacturing")
REGIONS = ("na", "emea", "apac", "latam")
EVENTS = (
    "dashboard_viewed",
    "report_viewed",
    "search",
    "report_created",
    "export",
    "alert_created",
)


def advocates(rows: int, seed: int = 0) -> pa.Table:
    """`rows` advocates with the published columns (policy.matching.ADVOCATE_COLUMNS)."""
    rng = np.random.default_rng(seed)
    # Each advocate uses a distinct subset of EVENTS (a random bit mask), like list(DISTINCT).
    mask = rng.integers(0, 2 ** len(EVENTS), rows)
    bits = (mask[:, None] >> np.arange(len(EVENTS))) & 1
    offsets = np.concatenate([[0], np.cumsum(bits.sum(axis=1))]).astype(np.int32)
    flat = pc.take(pa.array(EVENTS), pa.array(np.nonzero(bits)[1].astype(np.int32)))
    return pa.table(
        {
            "contact_id": [f"C{i:07d}" for i in range(rows)],
            "account_id": [f"A{i // 8:06d}" for i in range(rows)],
            "account_name": [f"Account {i // 8}" for i in range(rows)],
            "industry": np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), rows)],
            "segment": np.array(SEGMENTS)[rng.integers(0, 3, rows)],
            "region": np.array(REGIONS)[rng.integers(0, 4, rows)],
            "employees": rng.integers(10, 10_000, rows),
            "features_used": pa.ListArray.from_arrays(offsets, flat),
            "days_active_30d": rng.integers(0, 31, rows),
            "latest_nps": rng.integers(0, 11, rows).astype(float),
            "latest_nps_days_ago": rng.uniform(0, 365, rows),
            "p_advocate": rng.uniform(0, 0.6, rows),
            "p_burnout": rng.uniform(0, 0.3, rows),
            "p_reference_call": rng.uniform(0, 0.6, rows),
            "last_asked_days_ago": rng.uniform(30, 400, rows),
            "as_of": pa.array([pd.Timestamp(AS_OF)] * rows, pa.timestamp("us")),
        }
    )


def opportunities(n: int = 50, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "opportunity_id": [f"O{i:06d}" for i in range(1, n + 1)],
            "prospect_name": [f"Prospect {i}" for i in range(1, n + 1)],
            "industry": np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)],
            "segment": np.array(SEGMENTS)[rng.integers(0, 3, n)],
            "region": np.array(REGIONS)[rng.integers(0, 4, n)],
            "products": ["dashboard_viewed;export"] * n,
            "stage": "evaluation",
            "amount": 50_000.0,
            "created_at": pd.Timestamp(AS_OF) - pd.Timedelta(days=10),
            "reference_needed_by": None,
            "reference_type": "reference_call",
            "closed_at": pd.NaT,
        }
    )


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-match"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from advocacy.pipelines import match
    from advocacy.settings import Settings

    run, data = args.work / f"run-{args.rows}", args.work / "data"
    run.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    if not (run / match.ADVOCATES_FILE).exists():
        match.write_advocates_parquet(advocates(args.rows).to_pandas(), run / match.ADVOCATES_FILE)
    opportunities().to_parquet(data / "opportunities.parquet", index=False)
    settings = Settings().matching
    ids = iter(f"O{(i % 50) + 1:06d}" for i in range(10**6))

    def cold() -> None:
        loaded = match.load_advocates(run)
        match.answer(loaded, match.read_opportunity(data, next(ids)), settings, 5)

    loaded = match.load_advocates(run)

    def warm() -> None:
        match.answer(loaded, match.read_opportunity(data, next(ids)), settings, 5)

    cmd = [sys.executable, "-m", "advocacy.pipelines.cli", "match", "--data", str(data)]
    cmd += ["--run", str(run), "--opportunity", "O000001"]

    def cli() -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise SystemExit(f"advocacy match failed ({done.returncode}): {done.stderr}")

    result = {
        "rows": args.rows,
        "repeat": args.repeat,
        "cold_ms_median": _median_ms(cold, args.repeat),
        "warm_ms_median": _median_ms(warm, args.repeat),
        "cli_process_ms_median_of_3": _median_ms(cli, 3),
        "file_mb": round((run / match.ADVOCATES_FILE).stat().st_size / 1e6, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
