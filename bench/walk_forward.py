"""Walk forward: does the refit model (every closed row) predict the next period better than the
fit-slice model (train period only)?

    .venv/bin/python bench/walk_forward.py                       # 20k contacts, seed 1, 4 dates
    .venv/bin/python bench/walk_forward.py --seeds 1,2 --separate-fits

One world of --contacts with --history-days of history up to --end (generated into
--data-root when missing). For each as_of D in --dates and each target: the training frame as of
D (`spec.build_rows`), `models.train.fit_target` with default settings (tuning on). With
`training.refit` on, one fit yields both models on the same tuned params: `fitted.model` (refit
on every closed row) and `fitted.holdout_model` (the train period only, which is what the
registered model is with refit off). --separate-fits instead fits twice, refit=True and
refit=False (tuning then runs twice and, under its time budget, may pick different params).

The following period: the frame as of D + period + the label window, rows with
D <= t < D + period (every label closed, features as of each row's t). Both models score it;
AUC and log loss per date, and the mean difference, go to stdout and --out/walk_forward.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MPLBACKEND", "Agg")

log = logging.getLogger("walk_forward")

DEFAULT_DATES = "2025-08-30,2025-11-28,2026-02-26,2026-05-27"


def _dates(text: str) -> list[date]:
    return [date.fromisoformat(d) for d in text.split(",")]


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--seeds", default="1", help="comma list of world seeds")
    p.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--history-days", type=int, default=1095)
    p.add_argument("--dates", type=_dates, default=_dates(DEFAULT_DATES))
    p.add_argument("--period", type=int, default=90, help="days of the following period")
    p.add_argument("--data-root", type=Path, default=Path("/tmp/advocacy-bench/worlds"))
    p.add_argument("--out", type=Path, default=Path("/tmp/advocacy-bench/walk_forward"))
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--tune-seconds", type=float, default=None, help="override tune_seconds")
    p.add_argument("--separate-fits", action="store_true", help="fit refit=True and =False")
    p.add_argument("--targets", default=None, help="comma list (default: every target)")
    return p.parse_args()


def _with_training(settings: Any, **changes: Any) -> Any:
    from peer_table import replace_model

    return replace_model(settings, training=replace_model(settings.training, **changes))


def following_rows(con: Any, spec: Any, as_of: date, period: int, settings: Any) -> pd.DataFrame:
    """Rows with as_of <= t < as_of + period, built when all their labels have closed."""
    later = as_of + timedelta(days=period + spec.label_window(settings))
    frame = spec.build_rows(con, later, settings)
    start = pd.Timestamp(as_of)
    keep = (frame["t"] >= start) & (frame["t"] < start + pd.Timedelta(days=period))
    return frame[keep].reset_index(drop=True)


def _models(frame: pd.DataFrame, spec: Any, settings: Any, separate: bool) -> dict[str, Any]:
    from advocacy.models.train import fit_target

    refit = fit_target(frame, spec, _with_training(settings, refit=True))
    if not separate:
        return {"refit": refit.lightgbm_model, "fit_slice": refit.holdout_model, "_fitted": refit}
    slice_ = fit_target(frame, spec, _with_training(settings, refit=False))
    return {
        "refit": refit.lightgbm_model,
        "fit_slice": slice_.lightgbm_model,
        "holdout_model": refit.holdout_model,  # what the one-fit mode calls fit_slice
        "_fitted": refit,
    }


def evaluate_date(con: Any, spec: Any, as_of: date, settings: Any, args: argparse.Namespace):
    """One (date, target): fit at as_of, score the following period with both models."""
    from peer_table import paired_auc_gap

    from advocacy.models.baselines import nps_heuristic
    from advocacy.models.evaluate import binary_metrics

    frame = spec.build_rows(con, as_of, settings)
    models = _models(frame, spec, settings, args.separate_fits)
    fitted = models.pop("_fitted")
    nxt = following_rows(con, spec, as_of, args.period, settings)
    y = nxt["label"].to_numpy(dtype=int)
    preds = {name: m.predict_proba(nxt) for name, m in models.items()}
    preds["nps"] = nps_heuristic(nxt, spec.nps_direction, float(frame["label"].mean()))
    metrics = {name: binary_metrics(y, p) for name, p in preds.items()}
    lo, hi = paired_auc_gap(y, preds["refit"], preds["fit_slice"], 500, settings.training.seed)
    return {
        "as_of": as_of.isoformat(),
        "target": spec.name,
        "train_rows": len(frame),
        "fit_slice_rows": len(fitted.split.fit_idx),
        "fit_end": str(fitted.split.fit_end),
        "next_rows": len(nxt),
        "next_positives": int(y.sum()),
        "ranker": getattr(fitted, "ranker", "lightgbm"),  # a fallback rule when not trusted
        **{f"{k}_{m}": v[m] for k, v in metrics.items() for m in ("auc", "log_loss")},
        "auc_gap_lo": lo,
        "auc_gap_hi": hi,
    }


def table(results: pd.DataFrame) -> str:
    """Per date and target; then the mean difference (refit - fit slice) per target."""
    lines = [
        "| target | as_of | rows: all closed / fit slice | next-period rows (positives) | "
        "AUC refit | AUC fit-slice | Δ AUC [90% paired bootstrap] | log loss refit | "
        "log loss fit-slice | Δ log loss | NPS-rule AUC |",
        "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results.sort_values(["target", "seed", "as_of"]).itertuples(index=False):
        d_auc, d_ll = r.refit_auc - r.fit_slice_auc, r.refit_log_loss - r.fit_slice_log_loss
        lines.append(
            f"| {r.target} | {r.as_of}{'' if r.seed == 1 else f' (seed {r.seed})'} | "
            f"{r.train_rows} / {r.fit_slice_rows} | {r.next_rows} ({r.next_positives}) | "
            f"{r.refit_auc:.4f} | {r.fit_slice_auc:.4f} | {d_auc:+.4f} "
            f"[{r.auc_gap_lo:+.4f}, {r.auc_gap_hi:+.4f}] | {r.refit_log_loss:.4f} | "
            f"{r.fit_slice_log_loss:.4f} | {d_ll:+.4f} | {r.nps_auc:.4f} |"
        )
    lines += [
        "",
        "| target | dates | mean Δ AUC (refit − fit slice) | refit better on AUC | "
        "mean Δ log loss | refit better on log loss |",
        "|---|---:|---:|---|---:|---|",
    ]
    for target, g in results.groupby("target"):
        d_auc = g["refit_auc"] - g["fit_slice_auc"]
        d_ll = g["refit_log_loss"] - g["fit_slice_log_loss"]
        lines.append(
            f"| {target} | {len(g)} | {d_auc.mean():+.4f} | {(d_auc > 0).sum()} of {len(g)} | "
            f"{d_ll.mean():+.4f} | {(d_ll < 0).sum()} of {len(g)} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = _args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("advocacy").setLevel(logging.WARNING)
    from peer_table import World, bench_settings, code_fingerprint, ensure_world

    from advocacy.data_contracts.load import connect
    from advocacy.models.targets import TARGETS

    settings, code = bench_settings(args), code_fingerprint()
    specs = [s for s in TARGETS if args.targets is None or s.name in args.targets.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        world = World(args.contacts, seed)
        root = args.data_root / f"history{args.history_days}_end{args.end.isoformat()}"
        folder = ensure_world(root, world, args.end, history_days=args.history_days)
        con = connect(folder)
        for as_of in args.dates:
            for spec in specs:
                row = {"seed": seed, **evaluate_date(con, spec, as_of, settings, args)}
                log.info("%s", {k: v for k, v in row.items() if "auc" in k or k == "as_of"})
                rows.append(row)
        con.close()
    results = pd.DataFrame(rows)
    started = f"as of the code {code}, {os.cpu_count()} cores"
    text = f"Walk-forward {started}; settings: {settings.training.model_dump()}\n\n"
    text += table(results) + "\n"
    (args.out / "walk_forward.md").write_text(text)
    (args.out / "walk_forward.json").write_text(json.dumps(rows, indent=1, default=_plain))
    print(text)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else str(v)


if __name__ == "__main__":
    main()
