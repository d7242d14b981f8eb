"""What tuning and refitting cost: `fit_target` timed per variant at scale.

    .venv/bin/python bench/bench_training.py --data /tmp/world100k --contacts 100000 \
        --as-of 2026-11-23 [--variants plain,refit,tuned]

Generates the world into --data when missing, builds both training frames once (cached as
parquet next to the data), then fits each target under each variant in a fresh process, so
peak RSS is the variant's own:

- `plain`: no Optuna, no refit (defaults, the train-period model is registered);
- `refit`: no Optuna, refit on every closed row (a second CV for rounds and calibration);
- `tuned`: the defaults of `advocacy.settings` (Optuna within `training.tune_seconds`, refit).

Prints a markdown table: rows, seconds, rows/s, peak RSS, trials, holdout AUC.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

VARIANTS = {
    "plain": {"tune": False, "refit": False},
    "refit": {"tune": False, "refit": True},
    "tuned": {},
}


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--variants", default="plain,refit,tuned")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: "target:variant"
    return p.parse_args()


def _frames(args: argparse.Namespace) -> dict[str, Path]:
    """Both training frames as parquet, built once per (data, as_of)."""
    from advocacy.data_contracts.load import connect
    from advocacy.models.targets import TARGETS
    from advocacy.settings import Settings
    from advocacy.synthetic.world import generate

    if not args.data.exists():
        generate(args.data, contacts=args.contacts, seed=args.seed, as_of=args.as_of)
    paths = {
        s.name: args.data.parent / f"{args.data.name}-{s.name}-{args.as_of}.parquet"
        for s in TARGETS
    }
    if not all(p.exists() for p in paths.values()):
        con = connect(args.data)
        try:
            for spec in TARGETS:
                spec.build_rows(con, args.as_of, Settings()).to_parquet(paths[spec.name])
        finally:
            con.close()
    return paths


def _one(path: Path, target: str, variant: str) -> dict:
    from advocacy.models.train import fit_target
    from advocacy.settings import Settings

    frame = pd.read_parquet(path)
    settings = Settings()
    training = settings.training.model_copy(update=VARIANTS[variant])
    settings = settings.model_copy(update={"training": training})
    start = time.perf_counter()
    fitted = fit_target(frame, target, settings)
    seconds = time.perf_counter() - start
    return {
        "target": target,
        "variant": variant,
        "rows": len(frame),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(frame) / seconds),
        "peak_rss_gb": _peak_gb(),
        "trials": fitted.tuning.get("trials"),
        "holdout_auc": round(fitted.metrics["model"]["auc"], 4),
    }


def _peak_gb() -> float:
    """This process's own peak RSS: VmHWM restarts at exec, whereas `ru_maxrss` keeps the
    forking parent's peak (the frame building), which would hide the variant's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def main() -> None:
    args = _args()
    logging.basicConfig(level=logging.WARNING)
    if args.one:
        target, variant, path = args.one.split(":", 2)
        print(json.dumps(_one(Path(path), target, variant)))
        return
    paths = _frames(args)
    print("| target | variant | rows | s | rows/s | peak RSS GB | trials | holdout AUC |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for target, path in paths.items():
        for variant in args.variants.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--data",
                str(args.data),
                "--one",
                f"{target}:{variant}:{path}",
            ]
            r = json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            print(
                f"| {r['target']} | {r['variant']} | {r['rows']} | {r['seconds']} | "
                f"{r['rows_per_s']} | {r['peak_rss_gb']} | {r['trials']} | "
                f"{r['holdout_auc']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
