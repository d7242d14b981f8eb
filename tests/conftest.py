"""Shared fixtures: a small generated world, a temp MLflow store, one Prefect harness.

Each pytest(-xdist) worker gets its own PREFECT_HOME so the ephemeral Prefect databases
don't lock each other; nothing here touches the user's ~/.prefect or ./mlflow.db.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="advocacy-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)  # one per worker, not left
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# The product uses all cores (training.num_threads: 0); two pytest workers on 2 cores each
# running 2 OpenMP threads ran 18x slower, so tests (and the CLI subprocesses they start)
# use one LightGBM thread. advocacy.settings reads it when settings are built.
os.environ.setdefault("ADVOCACY_NUM_THREADS", "1")

AS_OF = date(2026, 11, 23)
WORLD_CONTACTS = 3000
WORLD_SEED = 11


@pytest.fixture(scope="session")
def as_of() -> date:
    return AS_OF


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory) -> Path:
    """A small generated world (Parquet), shared by every test of a worker session."""
    from advocacy.synthetic.world import generate

    out = tmp_path_factory.mktemp("world")
    generate(out, contacts=WORLD_CONTACTS, seed=WORLD_SEED, as_of=AS_OF)
    return out


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh MLflow tracking store (SQLite + artifact folder) in a temp dir."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # default artifact folder lands in the temp dir too
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
