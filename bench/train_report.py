"""Holdout numbers of both models against both baselines on a generated world.

    .venv/bin/python bench/train_report.py --data /tmp/world100k --contacts 100000 --seed 7 \
        --as-of 2026-11-23

Generates the world into --data when the folder does not exist yet (else reads it), builds the
training frames as of --as-of, fits both targets with the built-in default settings (or
--config), and prints a markdown table (the one in docs/models.md) plus timings. Nothing is
logged to MLflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from datetime import date
from pathlib import Path

import pandas as pd

from advocacy.data_contracts.load import connect
from advocacy.models.evaluate import metrics_table
from advocacy.models.targets import TARGETS
from advocacy.models.train import fit_target
from advocacy.settings import Settings, load_settings

SHOWN = ["auc", "pr_auc", "log_loss", "brier", "lift_top_decile", "ece", "n_rows", "base_rate"]
PREDICTOR_LABELS = {
    "model": "LightGBM (calibrated)",
    "baseline_nps": "latest-NPS rule",
    "baseline_logreg": "logistic regression",
}


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="data folder (generated if missing)")
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--config", type=Path, default=None, help="settings YAML (default: built-ins)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return p.parse_args()


def _table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    header = "| target | predictor | " + " | ".join(SHOWN) + " |"
    lines = [header, "|---|---|" + "---|" * len(SHOWN)]
    for r in frame.itertuples(index=False):
        cells = [f"{getattr(r, m):.0f}" if m == "n_rows" else f"{getattr(r, m):.4f}" for m in SHOWN]
        lines.append(f"| {r.target} | {r.predictor} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = _args()
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(args.config) if args.config else Settings()  # reproducible
    timings: dict[str, float] = {}
    if not args.data.exists():
        from advocacy.synthetic.world import generate

        start = time.perf_counter()
        generate(args.data, contacts=args.contacts, seed=args.seed, as_of=args.as_of)
        timings["generate_s"] = time.perf_counter() - start
    con = connect(args.data)
    rows, info = [], {}
    for spec in TARGETS:
        target = spec.name
        start = time.perf_counter()
        frame = spec.build_rows(con, args.as_of, settings)
        timings[f"{target}_features_s"] = time.perf_counter() - start
        start = time.perf_counter()
        fitted = fit_target(frame, spec, settings)
        timings[f"{target}_fit_s"] = time.perf_counter() - start
        table = metrics_table(fitted.metrics)
        for predictor, values in table.iterrows():
            rows.append({"target": target, "predictor": PREDICTOR_LABELS[predictor], **values})
        info[target] = {
            "rows": len(frame),
            "best_iteration": fitted.best_iteration,
            "calibration": fitted.calibration,
            **{k: str(v) for k, v in fitted.split.as_params().items()},
        }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(_table(rows))
    print()
    summary = {"data": str(args.data), "as_of": str(args.as_of), "timings": timings}
    summary |= {"peak_rss_mb": round(peak_mb), "splits": info}
    print(json.dumps(summary, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "timings": timings, "splits": info}))


if __name__ == "__main__":
    main()
