"""Time every stage of the weekly job at scale: seconds, rows/s and peak memory per stage.

    python bench/run_bench.py --contacts 100000            # generates a world first
    python bench/run_bench.py --data DIR --as-of 2026-11-23

Stages call the same functions the Prefect flow wires (without the Prefect engine), plus
the floor any correct pipeline pays: one plain DuckDB daily roll-up of usage_events.
Results go to stdout and bench/results/<date>-<contacts>.json; docs/benchmarks.md keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


class PeakRSS:
    """Samples this process's RSS every 20 ms; `peak` is the highest seen in the block."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


RESULTS: list[dict[str, Any]] = []


def stage(name: str, fn: Callable[[], Any], rows: Callable[[Any], int]) -> Any:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
    n = rows(out)
    RESULTS.append(
        {"stage": name, "seconds": round(secs, 2), "rows": n,
         "rows_per_s": round(n / secs) if secs else None, "peak_rss_gb": round(mem.peak / 2**30, 2)}
    )  # fmt: skip
    r = RESULTS[-1]
    print(f"{name:<28} {secs:>9.2f} s {n:>13,} rows {r['rows_per_s'] or 0:>12,} rows/s "
          f"peak RSS {r['peak_rss_gb']:>6.2f} GB", flush=True)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--data", type=Path, help="existing data folder (skips generation)")
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], help="stages to skip: validate train")
    args = ap.parse_args()

    from advocacy.settings import Settings

    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="advocacy-bench-"))
    data = args.data
    if data is None:
        from advocacy.synthetic.world import generate

        data = work / "data"
        stage(
            "generate",
            lambda: generate(data, contacts=args.contacts, seed=args.seed, as_of=args.as_of),
            lambda rows: sum(rows.values()),
        )
    run_stages(data, args.as_of, settings, work, args.skip)
    save(args, data)


def run_stages(data: Path, as_of: date, settings: Any, work: Path, skip: list[str]) -> None:
    from advocacy.data_contracts.load import connect
    from advocacy.features import build
    from advocacy.features import facts as facts_mod
    from advocacy.models import score
    from advocacy.policy import activity, ranking

    con = connect(data)
    n_events = con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    if "validate" not in skip:
        from advocacy.data_contracts.validate import validate_folder

        stage(
            "validate (GX, all tables)",
            lambda: validate_folder(data, settings, docs_dir=work / "docs", as_of=as_of),
            lambda r: sum(t.rows for t in r.tables),
        )
    floor_sql = (
        "CREATE OR REPLACE TEMP TABLE _floor AS SELECT contact_id, CAST(occurred_at AS DATE) AS d, "
        f"event, count(*) AS n FROM usage_events WHERE occurred_at < TIMESTAMP '{as_of}' "
        "GROUP BY ALL"
    )
    stage("floor: daily usage roll-up", lambda: con.execute(floor_sql), lambda _: n_events)
    con.execute("DROP TABLE IF EXISTS _floor")
    adv = stage(
        "features: advocate training",
        lambda: build.build_advocate_training(con, as_of, settings),
        len,
    )
    burn = stage(
        "features: burnout training",
        lambda: build.build_burnout_training(con, as_of, settings),
        len,
    )
    scoring = stage(
        "features: scoring rows", lambda: build.build_scoring(con, as_of, settings), len
    )
    facts = stage(
        "features: eligibility facts",
        lambda: facts_mod.eligibility_facts(con, as_of, settings),
        len,
    )
    from advocacy.models.train import fit_target

    fits = {}
    for target, frame in (("advocate", adv), ("burnout", burn)):
        fits[target] = stage(
            f"train: {target}",
            lambda f=frame, t=target: fit_target(f, t, settings),
            lambda _, f=frame: len(f),
        )
    models = {t: f.model for t, f in fits.items()}
    scored = stage(
        "score + reasons",
        lambda: score.score_population(scoring, models["advocate"], models["burnout"], settings),
        len,
    )
    ranked = stage(
        "eligibility + rank", lambda: ranking.rank_population(scored, facts, settings), len
    )
    stage(
        "shortlist + suggested activity",
        lambda: _shortlist(con, ranked, as_of, settings, activity, ranking, score),
        len,
    )


def _shortlist(con, ranked, as_of, settings, activity, ranking, score):
    top = ranking.shortlist(ranked, settings)
    details = world_facts.contact_details(con, top["contact_id"].tolist())
    hist = world_facts.ask_history(con, as_of, settings)
    suggested = activity.suggest_activity(
        hist["decided_asks"], hist["unprompted"], details, settings
    )
    return score.candidates_table(top, details, suggested, as_of)


def save(args: argparse.Namespace, data: Path) -> None:
    machine = {
        "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "platform": platform.platform(),
    }  # fmt: skip
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    path = out / f"{stamp}-{args.contacts}.json"
    path.write_text(
        json.dumps(
            {"date": stamp, "data": str(data), "machine": machine, "stages": RESULTS}, indent=2
        )
    )
    total = sum(r["seconds"] for r in RESULTS if r["stage"] != "generate")
    print(f"total (without generate): {total:.1f} s; machine {machine}; saved {path}")


if __name__ == "__main__":
    main()
