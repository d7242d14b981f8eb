"""What each feature family adds: holdout AUC and log loss with all families, and without each.

    .venv/bin/python bench/feature_families.py --work /tmp/families --contacts 20000 \
        --seeds 1 2 3 --as-of 2026-11-23 --json /tmp/families/result.json

For each seed a synthetic world is generated into --work (kept, reused when present), the
training rows of both targets are built once with every feature, and `fit_target` is run
with `training.tune=False` (fixed LightGBM params, so only the features differ) and
`training.refit=False` (the holdout numbers come from the train-period model either way) on:
all features, all minus each family (ablation), and all minus the features issue 10 added.
Prints a markdown table (mean and spread over seeds, the difference to "all") and the time
each family's query takes; the table is docs/feature-families.md. Nothing goes to MLflow.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import logging
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from advocacy.data_contracts.load import connect
from advocacy.features import labels, registry
from advocacy.features.build import scoring_population_sql
from advocacy.features.state import register_state
from advocacy.models.targets import TARGETS, TargetSpec
from advocacy.models.train import fit_target
from advocacy.settings import Settings, settings_from_mapping

log = logging.getLogger("feature_families")

# The features issue 10 added outside the new peers family (ablated together with peers).
NEW_FEATURES = ("nps_slope_last3", "adv_acceptance_smoothed", "adv_asks_365d")
METRICS = ("auc", "log_loss")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="worlds go here (reused if present)")
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    p.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    p.add_argument("--each", action="store_true", help="also drop each issue-10 feature alone")
    return p.parse_args()


def bench_settings() -> Settings:
    """Default settings with tuning and refit off: the features are the only variable."""
    return settings_from_mapping({"training": {"tune": False, "refit": False}})


def variants(each: bool = False) -> dict[str, list[str]]:
    """Feature lists: all, all minus each family, all minus the issue-10 additions, and with
    `each` all minus each single issue-10 feature."""
    names = [f.name for f in registry.FEATURES]
    out = {"all": names}
    for module in registry.FAMILIES:
        family = module.__name__.rsplit(".", 1)[-1]
        out[f"- {family}"] = [f.name for f in registry.FEATURES if f.family != family]
    new = [*NEW_FEATURES, *(f.name for f in registry.FEATURES if f.family == "peers")]
    out["- issue-10 features"] = [n for n in names if n not in new]
    for name in new if each else ():
        out[f"- {name}"] = [n for n in names if n != name]
    return out


def _world(work: Path, contacts: int, seed: int, as_of: date) -> Path:
    folder = work / f"world{contacts}_s{seed}"
    if not folder.exists():
        from advocacy.synthetic.world import generate

        generate(folder, contacts=contacts, seed=seed, as_of=as_of)
    return folder


def family_seconds(con, as_of: date, settings: Settings) -> dict[str, dict[str, float]]:
    """Seconds of each family's query on the advocate training points and the scoring points."""
    register_state(con)
    sources = {
        "advocate": labels.advocate_label_sql(as_of, settings),
        "scoring": scoring_population_sql(as_of),
    }
    out: dict[str, dict[str, float]] = {}
    for kind, sql in sources.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE _bench_pts AS {sql}")
        for module in registry.FAMILIES:
            family = module.__name__.rsplit(".", 1)[-1]
            start = time.perf_counter()
            rel = module.relation(con, "_bench_pts", as_of, settings)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _bench_fam AS {rel.sql_query()}")
            out.setdefault(family, {})[kind] = time.perf_counter() - start
    return out


def _spec_for(spec: TargetSpec, features: list[str]) -> TargetSpec:
    """The spec with only the monotone constraints whose features are in this variant."""
    kept = {
        pattern: sign
        for pattern, sign in spec.monotone.items()
        if any(fnmatch.fnmatchcase(f, pattern) for f in features)
    }
    return dataclasses.replace(spec, monotone=kept)


def run_seed(
    folder: Path, as_of: date, settings: Settings, each: bool = False
) -> tuple[list[dict], dict]:
    """One world: every variant x target, plus the family query times."""
    con = connect(folder)
    rows: list[dict] = []
    times = family_seconds(con, as_of, settings)
    for spec in TARGETS:
        frame = spec.build_rows(con, as_of, settings)
        for variant, features in variants(each).items():
            categorical = [c for c in registry.categorical_features() if c in features]
            start = time.perf_counter()
            variant_spec = _spec_for(spec, features)
            fitted = fit_target(
                frame, variant_spec, settings, features=features, categorical=categorical
            )
            model = fitted.metrics["model"]
            rows.append(
                {
                    "target": spec.score_column,
                    "variant": variant,
                    **{m: float(model[m]) for m in METRICS},
                    "fit_s": time.perf_counter() - start,
                    "rows": len(frame),
                }
            )
            log.info("%s %s %s auc %.4f", folder.name, spec.name, variant, model["auc"])
    con.close()
    return rows, times


def table(results: pd.DataFrame) -> str:
    """Markdown per target and variant: mean and min-max over seeds, and the per-seed change
    against "all" (mean and min-max: a family pays if removing it hurts on every seed)."""
    head = [f"{m} {k}" for m in ("AUC", "log loss") for k in ("mean", "min-max", "Δ", "Δ min-max")]
    lines = ["| target | features | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for target, group in results.groupby("target", sort=False):
        base = group[group["variant"] == "all"].set_index("seed")
        for variant, g in group.groupby("variant", sort=False):
            g = g.set_index("seed")
            cells = []
            for m in METRICS:
                d = g[m] - base[m]
                cells += [f"{g[m].mean():.4f}", f"{g[m].min():.4f}-{g[m].max():.4f}"]
                if variant == "all":
                    cells += ["", ""]
                else:
                    cells += [f"{d.mean():+.4f}", f"{d.min():+.4f} to {d.max():+.4f}"]
            lines.append(f"| {target} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def times_table(times: list[dict]) -> str:
    """Markdown: mean seconds of each family's query over the seeds."""
    lines = ["| family | advocate training points (s) | scoring points (s) |", "|---|---|---|"]
    for family in times[0]:
        adv = np.mean([t[family]["advocate"] for t in times])
        sco = np.mean([t[family]["scoring"] for t in times])
        lines.append(f"| {family} | {adv:.2f} | {sco:.2f} |")
    return "\n".join(lines)


def main() -> None:
    args = _args()
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    settings = bench_settings()
    started = time.perf_counter()
    all_rows, all_times = [], []
    for seed in args.seeds:
        folder = _world(args.work, args.contacts, seed, args.as_of)
        rows, times = run_seed(folder, args.as_of, settings, args.each)
        all_rows += [{**r, "seed": seed} for r in rows]
        all_times.append(times)
    results = pd.DataFrame(all_rows)
    print(table(results))
    print()
    print(times_table(all_times))
    print(f"\nseeds {args.seeds}, {args.contacts} contacts, {time.perf_counter() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({"rows": all_rows, "family_seconds": all_times}))


if __name__ == "__main__":
    main()
