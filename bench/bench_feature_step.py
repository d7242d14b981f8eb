"""Time the job's feature step ("features: all rows") per builder and per family, on one
connection as `pipelines.job.build_rows` runs it, and optionally save the frames.

    python bench/bench_feature_step.py --data DIR [--save OUT] [--features-dir OLD/features]
        [--config SETTINGS.yaml]

`--features-dir` runs another copy of `features/` (e.g. the code before a change, copied out
of the repository) in place of the installed one, so old and new can be timed on the same
machine and their saved frames compared (docs/benchmarks.md, "Feature build at 1M").
Prints one JSON line: seconds per builder and family, total, CPU seconds, peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import time
from datetime import date
from pathlib import Path

FRAMES = ("advocate", "burnout", "scoring", "reference")


class _FamilyTimes(logging.Handler):
    """Collects the debug lines "family X: Ns" of `features.build` under the current builder."""

    def __init__(self) -> None:
        super().__init__()
        self.builder, self.seconds = "", {}

    def emit(self, record: logging.LogRecord) -> None:
        found = re.match(r"family (\S+): ([\d.]+)s", record.getMessage())
        if found:
            family = found.group(1).rsplit(".", 1)[-1]
            self.seconds[f"{self.builder}:{family}"] = float(found.group(2))


def _peak_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return round(int(line.split()[1]) / 1024**2, 2)
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    parser.add_argument("--save", type=Path, help="write the four frames here as Parquet")
    parser.add_argument("--features-dir", type=Path, help="a copy of features/ to run instead")
    parser.add_argument("--config", type=Path, help="settings YAML (e.g. another memory cap)")
    args = parser.parse_args(argv)
    import advocacy.features as features_pkg

    if args.features_dir:
        features_pkg.__path__[:] = [str(args.features_dir)]
    from advocacy.data_contracts.load import connect
    from advocacy.features import build, facts
    from advocacy.pipelines.job import reference_days
    from advocacy.settings import load_settings

    times = _FamilyTimes()
    build_log = logging.getLogger("advocacy.features.build")
    build_log.setLevel(logging.DEBUG)
    build_log.addHandler(times)
    settings, as_of = load_settings(args.config), args.as_of
    con = connect(args.data, engine=settings.engine)
    builders = {
        "advocate": lambda: build.build_advocate_training(con, as_of, settings),
        "burnout": lambda: build.build_burnout_training(con, as_of, settings),
        "scoring": lambda: build.build_scoring(con, as_of, settings),
        "eligibility": lambda: facts.eligibility_facts(con, as_of, settings),
        "history": lambda: facts.ask_history(con, as_of, settings),
        "reference": lambda: build.build_reference(con, as_of, settings, reference_days(settings)),
    }
    result: dict = {"features": str(Path(build.__file__).parent)}
    started = time.perf_counter()
    for name, run in builders.items():
        times.builder, start = name, time.perf_counter()
        frame = run()
        result[name] = round(time.perf_counter() - start, 2)
        if args.save and name in FRAMES:
            args.save.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(args.save / f"{name}.parquet")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result |= {
        "total": round(time.perf_counter() - started, 2),
        "cpu": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_gb": _peak_gb(),
        "families": times.seconds,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
