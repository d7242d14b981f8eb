"""The pipeline's model against its peers, on the same time-ordered holdout, over several worlds.

    .venv/bin/python bench/peer_table.py                      # 3 x 20k (seeds 1-3) + 1 x 100k
    .venv/bin/python bench/peer_table.py --worlds 20000:1,20000:2 --tune-seconds 30

For each world (generated into --data-root/c<N>_s<seed> when missing, by
`advocacy.synthetic.world.generate`) and each target: the training frame as of --as-of
(`spec.build_rows`, what the weekly job's build_rows step runs), the pipeline's fit
(`models.train.fit_target`, default settings: tuning on), then every peer of `models.peers` on
the SAME split (trained on `split.fit_idx`, scored on `split.holdout_idx`). FLAML's budget is
`training.tune_seconds` unless --flaml-seconds says otherwise. The pipeline's holdout number is
its holdout model's (train period only), like every peer's.

Everything is logged to MLflow (--tracking-uri, default a SQLite file under --out) as one parent
run with a nested run per (world, target, predictor): metrics and sizes only, no personal data.
The markdown tables (mean and min-max over the 20k worlds; the 100k world on its own; the
paired-bootstrap AUC gaps; timings) go to stdout and --out/peer_table.md, raw numbers to
--out/peer_table.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

log = logging.getLogger("peer_table")

SHOWN = ("auc", "pr_auc", "log_loss", "ece", "lift_top_decile", "top100_value")
PIPELINE = "pipeline"
LABELS = {
    PIPELINE: "pipeline (tuned LightGBM, calibrated)",
    "hgb": "HistGradientBoosting (untuned)",
    "flaml": "FLAML AutoML",
    "logreg": "logistic regression",
    "nps": "latest-NPS rule",
}
DEFAULT_WORLDS = "20000:1,20000:2,20000:3,100000:1"
SMALL = 20_000  # the worlds the mean/spread table is over


@dataclass(frozen=True)
class World:
    contacts: int
    seed: int

    @property
    def name(self) -> str:
        return f"c{self.contacts}_s{self.seed}"


def _worlds(text: str) -> list[World]:
    out = []
    for item in text.split(","):
        contacts, seed = item.split(":")
        out.append(World(int(contacts), int(seed)))
    return out


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--worlds", type=_worlds, default=_worlds(DEFAULT_WORLDS), help="N:seed,...")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--data-root", type=Path, default=Path("/tmp/advocacy-bench/worlds"))
    p.add_argument("--out", type=Path, default=Path("/tmp/advocacy-bench/peers"))
    p.add_argument("--tracking-uri", default=None, help="default: sqlite:///<out>/mlflow.db")
    p.add_argument("--config", type=Path, default=None, help="settings YAML (default: built-ins)")
    p.add_argument("--tune-seconds", type=float, default=None, help="override tune_seconds")
    p.add_argument("--flaml-seconds", type=float, default=None, help="default: tune_seconds")
    p.add_argument("--targets", default=None, help="comma list (default: every target)")
    p.add_argument("--peers", default="hgb,flaml,logreg,nps")
    p.add_argument("--bootstrap", type=int, default=500, help="paired resamples of the AUC gap")
    p.add_argument("--from-json", type=Path, default=None, help="only re-render a peer_table.json")
    return p.parse_args()


def bench_settings(args: argparse.Namespace) -> Any:
    from advocacy.settings import Settings, load_settings

    settings = load_settings(args.config) if args.config else Settings()
    if args.tune_seconds is not None:
        training = replace_model(settings.training, tune_seconds=args.tune_seconds)
        settings = replace_model(settings, training=training)
    return settings


def replace_model(model: Any, **changes: Any) -> Any:
    """A frozen pydantic model with some fields changed (validated again)."""
    return type(model).model_validate({**model.model_dump(), **changes})


def ensure_world(root: Path, world: World, as_of: date, **kwargs: Any) -> Path:
    """The world's folder, generated (seeded, so reproducible) when it does not exist yet."""
    from advocacy.synthetic.world import generate

    folder = root / world.name
    if not (folder / "contacts.parquet").exists():
        start = time.perf_counter()
        generate(folder, contacts=world.contacts, seed=world.seed, as_of=as_of, **kwargs)
        log.info("generated %s in %.1fs", folder, time.perf_counter() - start)
    return folder


def paired_auc_gap(
    y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float]:
    """90% percentile interval of AUC(a) - AUC(b) over stratified resamples shared by both."""
    y = np.asarray(y, dtype=int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if n_boot < 1 or not len(pos) or not len(neg):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    gaps = []
    for chunk in np.array_split(np.arange(n_boot), max(1, n_boot // 50)):
        idx = np.hstack(
            [rng.choice(pos, (len(chunk), len(pos))), rng.choice(neg, (len(chunk), len(neg)))]
        )
        gaps.append(_aucs(len(pos), p_a[idx]) - _aucs(len(pos), p_b[idx]))
    lo, hi = np.quantile(np.concatenate(gaps), [0.05, 0.95])
    return float(lo), float(hi)


def _aucs(n_pos: int, p: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per row of p, whose first n_pos columns are the positives."""
    ranks = rankdata(p, axis=1)
    n_neg = p.shape[1] - n_pos
    return (ranks[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def run_target(
    frame: pd.DataFrame, spec: Any, settings: Any, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pipeline + peers on one target's frame: metric rows per predictor, and timings."""
    from advocacy.models.evaluate import binary_metrics
    from advocacy.models.peers import peer_predictions, time_budget
    from advocacy.models.train import fit_target

    start = time.perf_counter()
    fitted = fit_target(frame, spec, settings)
    fit_s = time.perf_counter() - start
    y = fitted.holdout["label"].to_numpy(dtype=int)
    preds = {PIPELINE: fitted.holdout["p"].to_numpy(dtype=float)}
    seconds = {PIPELINE: fit_s}
    budget = time_budget(settings, args.flaml_seconds)
    for peer in args.peers.split(","):
        start = time.perf_counter()
        preds |= peer_predictions(
            frame, spec, settings, fitted.split, (peer,), budget=budget,
            features=fitted.features, categorical=fitted.categorical,
        )  # fmt: skip
        seconds[peer] = time.perf_counter() - start
    rows = []
    for name, p in preds.items():
        row = {"predictor": name, "seconds": seconds[name], **binary_metrics(y, p)}
        if name != PIPELINE:
            lo, hi = paired_auc_gap(y, preds[PIPELINE], p, args.bootstrap, settings.training.seed)
            row |= {"auc_gap_lo": lo, "auc_gap_hi": hi}
        rows.append(row)
    info = {
        "split": fitted.split.as_params(),
        "tuning": fitted.tuning,
        "flaml_budget_s": budget,
        "rows": len(frame),
        "refit_rows": fitted.refit_rows,
        "ranker": getattr(fitted, "ranker", "lightgbm"),  # what would be registered
    }
    return rows, info


def _log_nested(rows: list[dict[str, Any]], world: World, spec: Any, info: dict[str, Any]) -> None:
    import mlflow

    for row in rows:
        name = f"{world.name}/{spec.name}/{row['predictor']}"
        with mlflow.start_run(run_name=name, nested=True):
            mlflow.log_params(
                {
                    "world": world.name, "contacts": world.contacts, "seed": world.seed,
                    "target": spec.name, "predictor": row["predictor"],
                    "flaml_budget_s": info["flaml_budget_s"], **info["split"],
                }
            )  # fmt: skip
            numbers = {k: float(v) for k, v in row.items() if k != "predictor"}
            mlflow.log_metrics({k: v for k, v in numbers.items() if np.isfinite(v)})
            if row["predictor"] == PIPELINE:
                tuning = {k: v for k, v in info["tuning"].items() if k != "best_params"}
                mlflow.log_metrics({f"tuning_{k}": float(v) for k, v in tuning.items()})


def _cell(values: pd.Series, fmt: str = "{:.3f}") -> str:
    if len(values) == 1:
        return fmt.format(values.iloc[0])
    lo, hi = values.min(), values.max()
    return f"{fmt.format(values.mean())} ({fmt.format(lo)}–{fmt.format(hi)})"


def metric_table(results: pd.DataFrame) -> str:
    """Predictor rows per target, one column per metric: mean (min–max) over the worlds given."""
    head = "| target | predictor | " + " | ".join(SHOWN) + " |"
    lines = [head, "|---|---|" + "---:|" * len(SHOWN)]
    for (target, _order), g in results.groupby(["target", "order"], sort=True):
        name = LABELS.get(g["predictor"].iloc[0], g["predictor"].iloc[0])
        cells = [_cell(g[m]) for m in SHOWN]
        lines.append(f"| {target} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gap_table(results: pd.DataFrame) -> str:
    """Pipeline AUC minus each peer's, per world, with the paired-bootstrap 90% interval."""
    peers = results[results["predictor"] != PIPELINE]
    lines = ["| world | target | peer | AUC gap (pipeline − peer) | 90% paired bootstrap |"]
    lines.append("|---|---|---|---:|---|")
    pipe = results[results["predictor"] == PIPELINE].set_index(["world", "target"])["auc"]
    for r in peers.sort_values(["target", "world", "order"]).itertuples(index=False):
        gap = pipe[(r.world, r.target)] - r.auc
        lines.append(
            f"| {r.world} | {r.target} | {r.predictor} | {gap:+.4f} | "
            f"[{r.auc_gap_lo:+.4f}, {r.auc_gap_hi:+.4f}] |"
        )
    return "\n".join(lines)


def timing_table(infos: list[dict[str, Any]], results: pd.DataFrame) -> str:
    """Wall seconds of the pipeline's fit (tuning trials and seconds inside it) and each peer."""
    lines = [
        "| world | target | rows (fit / holdout) | pipeline fit s | tuning trials | tuning s | "
        "FLAML budget s | FLAML s | HGB s | logreg s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    secs = results.set_index(["world", "target", "predictor"])["seconds"]
    for i in infos:
        w, t = i["world"], i["target"]

        def s(p: str, w: str = w, t: str = t) -> str:
            return f"{secs.get((w, t, p), float('nan')):.1f}"

        lines.append(
            f"| {w} | {t} | {i['split']['n_fit']} / {i['split']['n_holdout']} | {s(PIPELINE)} | "
            f"{i['tuning'].get('trials', '')} | {i['tuning'].get('seconds', float('nan')):.1f} | "
            f"{i['flaml_budget_s']:.0f} | {s('flaml')} | {s('hgb')} | {s('logreg')} |"
        )
    return "\n".join(lines)


def report(results: pd.DataFrame, infos: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    small = results[results["contacts"] == SMALL]
    large = results[results["contacts"] != SMALL]
    parts = [
        f"Run {meta['started']} on {meta['machine']}, code {meta.get('code', '?')}; "
        f"settings: {meta['settings']}."
    ]
    if len(small):
        worlds = ", ".join(sorted(small["world"].unique()))
        parts += [
            f"\n**{SMALL:,}-contact worlds ({worlds}): mean (min–max)**\n",
            metric_table(small),
        ]
    for world, g in large.groupby("world"):
        parts += [f"\n**{world}**\n", metric_table(g)]
    parts += ["\n**AUC gaps per world**\n", gap_table(results)]
    parts += ["\n**Times (wall seconds)**\n", timing_table(infos, results)]
    return "\n".join(parts) + "\n"


def code_fingerprint() -> str:
    """sha256 (12 hex) of the package's sources now: the tree is edited while benches run."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder in ("advocacy", "features", "models", "synthetic"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _meta(settings: Any, args: argparse.Namespace) -> dict[str, Any]:
    t = settings.training
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.python_version()}, {platform.machine()}",
        "settings": f"tune={t.tune}, tune_trials={t.tune_trials}, tune_seconds={t.tune_seconds}, "
        f"tune_folds={t.tune_folds}, num_threads={t.num_threads}, refit={t.refit}",
        "as_of": args.as_of.isoformat(),
        "code": code_fingerprint(),
        "worlds": [w.name for w in args.worlds],
    }


def _frame(rows: list[dict[str, Any]], peers: str) -> pd.DataFrame:
    results = pd.DataFrame(rows)
    order = {p: i for i, p in enumerate([PIPELINE, *peers.split(",")])}
    results["order"] = results["predictor"].map(order)
    return results


def main() -> None:
    args = _args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        print(report(_frame(saved["results"], args.peers), saved["infos"], saved["meta"]))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("advocacy", "flaml", "mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import mlflow

    from advocacy.data_contracts.load import connect
    from advocacy.models.targets import TARGETS
    from advocacy.models.telemetry import disable_telemetry

    settings = bench_settings(args)
    specs = [s for s in TARGETS if args.targets is None or s.name in args.targets.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    disable_telemetry()
    mlflow.set_tracking_uri(args.tracking_uri or f"sqlite:///{args.out.resolve()}/mlflow.db")
    mlflow.set_experiment("peer-comparison")
    meta, rows, infos = _meta(settings, args), [], []
    with mlflow.start_run(run_name=f"peer-table {meta['started']}"):
        mlflow.log_params({k: str(v) for k, v in meta.items()})
        for world in args.worlds:
            folder = ensure_world(args.data_root, world, args.as_of)
            con = connect(folder)
            for spec in specs:
                frame = spec.build_rows(con, args.as_of, settings)
                found, info = run_target(frame, spec, settings, args)
                info |= {"world": world.name, "target": spec.name}
                _log_nested(found, world, spec, info)
                keep = {"world": world.name, "contacts": world.contacts, "target": spec.name}
                rows += [{**keep, **r} for r in found]
                infos.append(info)
                log.info(
                    "%s %s: %s",
                    world.name,
                    spec.name,
                    {r["predictor"]: round(r["auc"], 4) for r in found},
                )
            con.close()
        results = _frame(rows, args.peers)
        text = report(results, infos, meta)
        (args.out / "peer_table.md").write_text(text)
        (args.out / "peer_table.json").write_text(
            json.dumps({"meta": meta, "results": rows, "infos": infos}, indent=1, default=str)
        )
        mlflow.log_artifact(str(args.out / "peer_table.md"))
        mlflow.log_artifact(str(args.out / "peer_table.json"))
    print(text)


if __name__ == "__main__":
    main()
