"""Time the ask plan's solver at 100k and 1M eligible contacts x 8 activity types.

Random instance: accounts of 5-50 contacts, p_yes ~ Beta(2, 8) per (contact, type),
p_burnout ~ Beta(1, 9); default settings (budgets, values, explore share). Times the
exploration draw, the edge values, the prefilter + exact solve (policy.solver.assign) and the
whole plan (wall, and CPU seconds: steadier on a shared box); prints a markdown table.
Run: `nice -n 10 .venv/bin/python bench/bench_solver.py`.
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import date

import numpy as np
import pandas as pd

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.policy import exploration, solver
from advocacy.policy.plan import edge_values, make_plan
from advocacy.settings import Settings

AS_OF = date(2025, 3, 3)


def world(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n contacts in accounts of 5-50, and their chance of yes per activity type."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 51, n // 5)
    account = np.repeat(np.arange(sizes.size), sizes)[:n]
    contact = np.array([f"c{i:07d}" for i in range(n)], dtype=object)
    pool = pd.DataFrame(
        {
            "contact_id": contact,
            "account_id": np.array([f"a{a:06d}" for a in account], dtype=object),
            "p_burnout": rng.beta(1, 9, n),
            "priority": rng.random(n),
        }
    )
    k = len(ACTIVITY_TYPES)
    chances = pd.DataFrame(
        {
            "contact_id": np.repeat(contact, k),
            "activity_type": np.tile(np.array(ACTIVITY_TYPES, dtype=object), n),
            "p_yes": rng.beta(2, 8, n * k),
        }
    )
    return chances, pool


def _timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def _cpu_timed(fn, *args, **kw):
    """Wall and CPU seconds: on a shared box the CPU time is the steadier number."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t, time.process_time() - c


def measure(n: int, settings: Settings) -> dict[str, float]:
    chances, pool = world(n)
    _, t_explore = _timed(exploration.draw, pool, AS_OF, settings)
    edges, t_edges = _timed(edge_values, chances, pool, settings)
    frame = edges.rename(
        columns={"activity_type": "slot", "contact_id": "person", "account_id": "group"}
    )
    frame["value"] = frame["expected_value"]
    caps = settings.ranking.max_per_account
    _, t_solve = _timed(
        solver.assign,
        frame,
        slot_caps=settings.asks.budgets,
        person_cap=1,
        group_caps=caps,
        total=exploration.list_size(settings),
    )
    plan, t_plan, cpu_plan = _cpu_timed(make_plan, chances, pool, AS_OF, settings)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "contacts": n,
        "edges": len(frame),
        "explore_s": t_explore,
        "edges_s": t_edges,
        "prefilter_solve_s": t_solve,
        "plan_s": t_plan,
        "plan_cpu_s": cpu_plan,
        "listed": len(plan.listed),
        "peak_rss_mb": rss,
    }


def main(sizes: list[int]) -> None:
    settings = Settings()
    rows = [measure(n, settings) for n in sizes]
    print(
        "| contacts | edges | exploration (s) | edge values (s) | prefilter + solve (s) "
        "| whole plan (s) | whole plan CPU (s) | listed | peak RSS (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['contacts']:,} | {r['edges']:,} | {r['explore_s']:.2f} | {r['edges_s']:.2f} | "
            f"{r['prefilter_solve_s']:.2f} | {r['plan_s']:.2f} | {r['plan_cpu_s']:.2f} | "
            f"{r['listed']} | "
            f"{r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
