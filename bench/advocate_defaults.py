"""Small-data LightGBM defaults for p_advocate at 20k contacts, measured on the pipeline's split.

    nice -n 10 env ADVOCACY_NUM_THREADS=1 .venv/bin/python bench/advocate_defaults.py \
        --worlds 20000:1,20000:2,20000:3 --targets advocate --candidates now,extra,linear

Each candidate is a set of LightGBM parameter overrides applied on top of
`models.train.lightgbm_params` (the defaults the pipeline uses below training.tune_min_rows);
`fit_target` then runs unchanged (time split, time-fold CV for rounds and calibration), so the
holdout numbers are the pipeline's own, beside its logistic baseline on the same fit slice.
Frames are cached as parquet under --cache (built once per world and target by
`spec.build_rows`). Research only: the overrides are injected here, nothing in models/ changes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

log = logging.getLogger("advocate_defaults")

# name -> LightGBM overrides (sklearn-API names where lightgbm_params uses them)
CANDIDATES: dict[str, dict[str, Any]] = {
    "now": {},
    "extra": {"extra_trees": True},
    "smooth": {"path_smooth": 10.0},
    "extra_smooth": {"extra_trees": True, "path_smooth": 10.0},
    "slow": {"learning_rate": 0.02},
    "extra_slow": {"extra_trees": True, "learning_rate": 0.02},
    "bin63": {"max_bin": 63},
    "linear": {"linear_tree": True, "linear_lambda": 1.0},
    "linear_small": {"linear_tree": True, "linear_lambda": 1.0, "num_leaves": 4, "max_depth": 2},
    "stumps": {"num_leaves": 3, "max_depth": 2},
    "l2_30": {"reg_lambda": 30.0},
    "ff05_extra": {"extra_trees": True, "colsample_bytree": 0.5},
    "extra_l2": {"extra_trees": True, "reg_lambda": 10.0},
    "extra_leaf50": {"extra_trees": True, "min_child_samples": 50},
    "extra7": {"extra_trees": True, "num_leaves": 7},
}
EXTRA_TREES_MAX_ROWS = 20_000  # the proposed rule (report: models/train.py diff)


def proposed(n_rows: int | None) -> dict[str, Any]:
    """The proposed size rule: extra_trees on train frames below EXTRA_TREES_MAX_ROWS rows."""
    return {"extra_trees": n_rows is not None and n_rows < EXTRA_TREES_MAX_ROWS}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--worlds", default="20000:1,20000:2,20000:3")
    p.add_argument("--targets", default="advocate")
    p.add_argument("--candidates", default="now")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--data-root", type=Path, default=Path("/tmp/advocacy-bench/worlds"))
    p.add_argument("--cache", type=Path, default=Path("/tmp/advocacy-bench/h4/frames"))
    p.add_argument("--out", type=Path, default=Path("/tmp/advocacy-bench/h4/results.jsonl"))
    p.add_argument("--leaf-rows-share", type=float, default=None, help="override LEAF_ROWS_SHARE")
    return p.parse_args()


def frame_for(args: argparse.Namespace, contacts: int, seed: int, spec: Any, settings: Any):
    """The target's training frame as of --as-of, from the cache or built (and cached)."""
    from advocacy.data_contracts.load import connect
    from advocacy.synthetic.world import generate

    path = args.cache / f"c{contacts}_s{seed}_{spec.name}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    folder = args.data_root / f"c{contacts}_s{seed}"
    if not (folder / "contacts.parquet").exists():
        generate(folder, contacts=contacts, seed=seed, as_of=args.as_of)
    con = connect(folder)
    frame = spec.build_rows(con, args.as_of, settings)
    con.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return frame


def with_overrides(overrides: dict[str, Any] | Callable[[int | None], dict[str, Any]]) -> None:
    """Make `models.train.lightgbm_params` return the defaults plus `overrides` (a dict, or a
    function of the training rows `n_rows`)."""
    from advocacy.models import train

    original = getattr(train, "_h4_original", None) or train.lightgbm_params
    train._h4_original = original

    def patched(*a: Any, **k: Any) -> dict[str, Any]:
        extra = overrides(k.get("n_rows")) if callable(overrides) else overrides
        return {**original(*a, **k), **extra}

    train.lightgbm_params = patched


def measure(frame: pd.DataFrame, spec: Any, settings: Any, name: str) -> dict[str, Any]:
    """One `fit_target` under candidate `name`: holdout AUC/log loss beside the logistic
    baseline on the same fit slice, the time-fold CV log loss, rounds and seconds."""
    from advocacy.models import train
    from advocacy.models.evaluate import binary_metrics

    with_overrides(proposed if name == "proposed" else CANDIDATES[name])
    start = time.perf_counter()
    fitted = train.fit_target(frame, spec, settings)
    hold = fitted.holdout
    y = hold["label"].to_numpy(dtype=int)
    pipe = binary_metrics(y, hold["p"].to_numpy(dtype=float))
    logreg = binary_metrics(y, hold["p_baseline_logreg"].to_numpy(dtype=float))
    return {
        "target": spec.name, "candidate": name, "leaf_rows_share": train.LEAF_ROWS_SHARE,
        "auc": pipe["auc"], "log_loss": pipe["log_loss"],
        "logreg_auc": logreg["auc"], "logreg_log_loss": logreg["log_loss"],
        "gap": pipe["auc"] - logreg["auc"], "cv_log_loss": fitted.tuning["best_cv_log_loss"],
        "rounds": fitted.best_iteration, "trials": fitted.tuning["trials"],
        "n_fit": len(fitted.split.fit_idx),
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def bench_settings(leaf_rows_share: float | None) -> Any:
    """Default settings with refit off: the holdout numbers do not depend on it, and it halves
    the work."""
    from advocacy.models import train
    from advocacy.settings import Settings

    if leaf_rows_share is not None:
        train.LEAF_ROWS_SHARE = leaf_rows_share
    settings = Settings()
    training = {**settings.training.model_dump(), "refit": False}
    return type(settings).model_validate({**settings.model_dump(), "training": training})


def main() -> None:
    args = parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("advocacy", "mlflow", "alembic", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from advocacy.models.targets import TARGETS

    settings = bench_settings(args.leaf_rows_share)
    specs = [s for s in TARGETS if s.name in args.targets.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for item in args.worlds.split(","):
        contacts, seed = (int(v) for v in item.split(":"))
        for spec in specs:
            frame = frame_for(args, contacts, seed, spec, settings)
            for name in args.candidates.split(","):
                row = {"world": f"c{contacts}_s{seed}", **measure(frame, spec, settings, name)}
                log.info(
                    "%s", {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                )
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
