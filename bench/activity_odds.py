"""Does the per-type odds adjustment (policy.activity.chance_by_type) beat p_advocate on the
holdout asks? Log loss, AUC and ECE of both, with the adjustment's weight fitted on the first
half of the holdout (validation) and judged on the second half (test).

    .venv/bin/python bench/activity_odds.py                      # 20k worlds, seeds 1-3
    .venv/bin/python bench/activity_odds.py --worlds 20000:1 --refresh-days 0

Per world (generated into --data-root/c<N>_s<seed> when missing, `advocacy.synthetic.world`):
the p_advocate training frame as of --as-of (`spec.build_rows`, as the weekly job), the
pipeline's fit with tuning and refit off (`models.train.fit_target`); its holdout model (train
period only) gives p_advocate for each holdout ask. The ask history is read point in time: at
the holdout start, and (--refresh-days > 0) again every N days, each ask using the newest
history dated at or before its own t (`features.facts.ask_history` sees only what was decided
strictly before that date). p_yes is p_advocate moved by the odds shift of the ask's actual type.
Markdown to stdout and --out/activity_odds.md, numbers to --out/activity_odds.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MPLBACKEND", "Agg")
log = logging.getLogger("activity_odds")

SHOWN = ("log_loss", "auc", "ece", "brier")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--worlds", default="20000:1,20000:2,20000:3", help="N:seed,...")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--data-root", type=Path, default=Path("/tmp/advocacy-bench/worlds"))
    p.add_argument("--out", type=Path, default=Path("/tmp/advocacy-bench/activity_odds"))
    p.add_argument("--refresh-days", type=int, default=7, help="0: history at the split only")
    return p.parse_args()


def _settings() -> Any:
    from advocacy.settings import Settings

    s = Settings()
    training = type(s.training).model_validate(
        {**s.training.model_dump(), "tune": False, "refit": False}
    )
    return type(s).model_validate({**s.model_dump(), "training": training})


def _world(root: Path, contacts: int, seed: int, as_of: date) -> Path:
    from advocacy.synthetic.world import generate

    folder = root / f"c{contacts}_s{seed}"
    if not (folder / "contacts.parquet").exists():
        generate(folder, contacts=contacts, seed=seed, as_of=as_of)
    return folder


def _history_dates(start: date, end: date, every: int) -> list[date]:
    if every <= 0:
        return [start]
    out, d = [], start
    while d <= end:
        out.append(d)
        d += timedelta(days=every)
    return out


def holdout_shifts(con: Any, hold: pd.DataFrame, dates: list[date], settings: Any) -> np.ndarray:
    """Odds shift of each holdout ask's own type, from the history at the newest date <= t."""
    from advocacy.features.facts import ask_history
    from advocacy.policy.activity import odds_shift

    personas = con.execute("SELECT contact_id, persona FROM contacts").df()
    stamps = pd.to_datetime(pd.Series(dates))
    which = np.searchsorted(stamps.to_numpy(), hold["t"].to_numpy(), side="right") - 1
    shift = np.zeros(len(hold))
    for i, d in enumerate(dates):
        rows = np.flatnonzero(which == i)
        if not len(rows):
            continue
        history = ask_history(con, d, settings)
        ids = pd.DataFrame({"contact_id": hold["contact_id"].iloc[rows].unique()})
        cands = ids.merge(personas, on="contact_id", how="left")
        types, grid = odds_shift(history.decided_asks, history.unprompted, cands, settings)
        r = pd.Index(cands["contact_id"]).get_indexer(hold["contact_id"].iloc[rows])
        c = pd.Index(types).get_indexer(hold["activity_type"].iloc[rows])
        shift[rows] = grid[r, c]
    return shift


def fit_weight(y: np.ndarray, p: np.ndarray, shift: np.ndarray) -> float:
    """The multiplier of the shift that minimises log loss on (y, p) (bounded to [0, 2])."""
    from scipy.optimize import minimize_scalar
    from sklearn.metrics import log_loss

    from advocacy.policy.activity import adjust_odds

    res = minimize_scalar(
        lambda w: log_loss(y, adjust_odds(p, shift, w), labels=[0, 1]),
        bounds=(0.0, 2.0),
        method="bounded",
    )
    return float(res.x)


def run_world(folder: Path, as_of: date, refresh: int, settings: Any) -> dict[str, Any]:
    from advocacy.data_contracts.load import connect
    from advocacy.models.evaluate import binary_metrics
    from advocacy.models.targets import target
    from advocacy.models.train import fit_target
    from advocacy.policy.activity import adjust_odds

    spec = target("advocate")
    con = connect(folder)
    try:
        frame = spec.build_rows(con, as_of, settings).reset_index(drop=True)
        start = time.perf_counter()
        fitted = fit_target(frame, spec, settings)
        fit_s = time.perf_counter() - start
        hold = fitted.holdout.assign(
            activity_type=frame["activity_type"].iloc[fitted.split.holdout_idx].to_numpy()
        )
        split_day = pd.Timestamp(fitted.split.holdout_start).date()
        dates = _history_dates(split_day, hold["t"].max().date(), refresh)
        shift = holdout_shifts(con, hold, dates, settings)
    finally:
        con.close()
    y, p = hold["label"].to_numpy(dtype=int), hold["p"].to_numpy(dtype=float)
    order = np.argsort(hold["t"].to_numpy(), kind="stable")
    val, test = order[: len(order) // 2], order[len(order) // 2 :]
    w = fit_weight(y[val], p[val], shift[val])
    out: dict[str, Any] = {"world": folder.name, "n_holdout": len(y), "weight": w, "fit_s": fit_s}
    out["holdout_start"], out["history_dates"] = str(split_day), len(dates)
    out["shift_sd"] = float(np.std(shift))
    for name, rows in (("all", np.arange(len(y))), ("test", test)):
        for label, weight in (("p_advocate", 0.0), ("p_yes", 1.0), ("p_yes_fitted", w)):
            q = adjust_odds(p[rows], shift[rows], weight)
            out[f"{name}/{label}"] = binary_metrics(y[rows], q)
    return out


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "| world | rows | fitted weight | part | predictor | " + " | ".join(SHOWN) + " |",
        "|---|---:|---:|---|---|" + "---:|" * len(SHOWN),
    ]
    for r in results:
        for part in ("all", "test"):
            for label in ("p_advocate", "p_yes", "p_yes_fitted"):
                m = r[f"{part}/{label}"]
                rows = int(m["n_rows"])
                cells = " | ".join(f"{m[k]:.4f}" for k in SHOWN)
                lines.append(
                    f"| {r['world']} | {rows} | {r['weight']:.2f} | {part} | {label} | {cells} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = _args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("advocacy").setLevel(logging.WARNING)
    settings = _settings()
    results = []
    for item in args.worlds.split(","):
        contacts, seed = (int(x) for x in item.split(":"))
        folder = _world(args.data_root, contacts, seed, args.as_of)
        results.append(run_world(folder, args.as_of, args.refresh_days, settings))
        log.info("%s done: weight %.2f", folder.name, results[-1]["weight"])
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(results)
    (args.out / "activity_odds.md").write_text(text)
    (args.out / "activity_odds.json").write_text(json.dumps(results, indent=1, default=float))
    print(text)


if __name__ == "__main__":
    main()
