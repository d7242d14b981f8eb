"""One installed namespace: `advocacy.*` imports anywhere; nothing generic is installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GENERIC = (
    *("models", "features", "pipelines", "policy", "data_contracts", "synthetic"),
    "advocacy_settings",
)
REPO = Path(__file__).resolve().parents[2]


def _probe(tmp_path: Path) -> dict[str, str]:
    code = (
        "import importlib, json\n"
        f"names = {[*GENERIC, 'advocacy.features.build', 'advocacy.policy.ranking']!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try:\n"
        "        m = importlib.import_module(n); out[n] = m.__file__ or 'namespace'\n"
        "    except ImportError as e:\n"
        "        out[n] = 'ImportError'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_outside_the_repository_only_the_advocacy_namespace_imports(tmp_path: Path) -> None:
    found = _probe(tmp_path)
    assert {n: found[n] for n in GENERIC} == dict.fromkeys(GENERIC, "ImportError")
    assert Path(found["advocacy.features.build"]).resolve() == REPO / "features" / "build.py"
    assert Path(found["advocacy.policy.ranking"]).resolve() == REPO / "policy" / "ranking.py"
