"""Start the weekly job N times while every core is busy: Prefect start-up seconds and failures.

    python bench/busy_start.py                          # 3 x `advocacy score`, cores busy
    python bench/busy_start.py --iterations 5 --command run
    python bench/busy_start.py --startup-timeout 20     # Prefect's own default, for comparison

Reproduces the start-up race: with PREFECT_API_URL unset, Prefect starts a temporary API server
as a child process and waits for it; on a busy 2-core machine a first start (fresh PREFECT_HOME:
database migrations) takes far longer than Prefect's default 20 s. Each iteration runs
`advocacy -v COMMAND` in a fresh PREFECT_HOME (a fresh clone) while one busy-loop process per
core spins, and reads from its log how long the server took ("Prefect temporary server up ...
after X s (attempt N)") or the line it failed with. `score` needs champions: one unloaded
`advocacy train` runs first. Results: stdout and, with --json, a file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

AS_OF = date(2026, 11, 23)
UP = re.compile(r"Prefect temporary server up at \S+ after ([\d.]+) s \(attempt (\d)\)")
RETRY = "did not start within"


def _spin() -> None:  # pragma: no cover - runs in the busy processes
    while True:
        pass


def advocacy(args: list[str], cwd: Path, home: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        MLFLOW_TRACKING_URI=f"sqlite:///{cwd / 'mlflow.db'}",
        **extra_env,
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "advocacy.pipelines.cli", "-v", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    err = proc.stderr.splitlines()
    up = next((m for m in map(UP.search, err) if m), None)
    failure = next((line for line in err if line.startswith("advocacy: error:")), None)
    return {
        "exit_code": proc.returncode,
        "wall_s": round(seconds, 1),
        "startup_s": float(up.group(1)) if up else None,
        "attempts": int(up.group(2)) if up else (2 if any(RETRY in x for x in err) else 1),
        "retried": any(RETRY in line and "trying once more" in line for line in err),
        "startup_failed": failure is not None and "temporary server" in failure,
        "error": failure,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=800)
    parser.add_argument("--command", choices=("score", "run"), default="score")
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy processes")
    parser.add_argument(
        "--startup-timeout",
        type=int,
        help="PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (default: the product's setting)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    from advocacy.synthetic.world import generate

    work = Path(tempfile.mkdtemp(prefix="busy-start-"))
    data = work / "data"
    generate(data, contacts=args.contacts, seed=7, as_of=AS_OF)
    job = [args.command, "--data", str(data), "--as-of", AS_OF.isoformat()]
    extra = {}
    if args.startup_timeout is not None:
        extra["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = str(args.startup_timeout)
    if args.command == "score":
        setup = advocacy(["train", *job[1:]], work, work / "home-train", {})
        print(f"setup: advocacy train -> exit {setup['exit_code']} in {setup['wall_s']} s")
        if setup["exit_code"] != 0:
            print(setup["error"])
            return 1

    results = []
    for i in range(1, args.iterations + 1):
        busy = [mp.Process(target=_spin, daemon=True) for _ in range(args.busy)]
        for p in busy:
            p.start()
        try:
            out = ["--out", str(work / f"out-{i}")]
            r = advocacy([*job, *out], work, work / f"home-{i}", extra)
        finally:
            for p in busy:
                p.terminate()
                p.join()
        r["iteration"] = i
        results.append(r)
        print(
            f"{i:>2}: exit {r['exit_code']}  start-up {r['startup_s']} s  "
            f"attempts {r['attempts']}  wall {r['wall_s']} s  {r['error'] or ''}"
        )

    ups = [r["startup_s"] for r in results if r["startup_s"] is not None]
    summary = {
        "command": args.command,
        "contacts": args.contacts,
        "busy_processes": args.busy,
        "cores": os.cpu_count(),
        "startup_timeout": args.startup_timeout or "settings (180 s)",
        "iterations": len(results),
        "startup_failures": sum(r["startup_failed"] for r in results),
        "retries": sum(r["retried"] for r in results),
        "other_failures": sum(r["exit_code"] != 0 and not r["startup_failed"] for r in results),
        "startup_s_median": round(statistics.median(ups), 1) if ups else None,
        "startup_s_max": max(ups) if ups else None,
        "results": results,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
