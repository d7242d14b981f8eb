"""A lost or emptied tracking store is refused, not re-created; the registry lock; telemetry off.

No MLflow store is created here except where a test allows a new one on purpose."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from advocacy.models import registry_lock, telemetry, tracking
from advocacy.models.targets import ADVOCATE
from advocacy.settings import Settings, TrackingSettings

REPO = Path(__file__).resolve().parents[2]


def _allowing() -> Settings:
    return Settings(tracking=TrackingSettings(allow_new_store=True))


def test_empty_database_file_is_refused_and_left_as_it_is(mlflow_store, tmp_path):
    db = tmp_path / "mlflow.db"
    db.touch()
    with pytest.raises(tracking.TrackingStoreError) as info:
        tracking.configure_tracking(Settings())
    line = str(info.value)
    assert str(db) in line and "0 bytes" in line and "--new-store" in line
    assert "\n" not in line
    assert db.stat().st_size == 0  # not silently re-created
    with pytest.raises(tracking.TrackingStoreError, match="0 bytes"):
        tracking.load_champion(ADVOCATE, Settings())


def test_a_file_that_is_not_an_mlflow_database_is_refused(mlflow_store, tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not a database at all, just some bytes" * 10)
    with pytest.raises(tracking.TrackingStoreError, match="not a SQLite database"):
        tracking.configure_tracking(_allowing())  # never overwritten, even when allowed
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    with pytest.raises(tracking.TrackingStoreError, match="not an MLflow database"):
        tracking.configure_tracking(_allowing())


def test_missing_database_beside_artifacts_is_refused(mlflow_store, tmp_path):
    run_files = tmp_path / "mlartifacts" / "1" / "abc" / "artifacts"
    run_files.mkdir(parents=True)
    (run_files / "model_card.md").write_text("a model")
    with pytest.raises(tracking.TrackingStoreError) as info:
        tracking.configure_tracking(Settings())
    line = str(info.value)
    assert "mlflow.db is missing" in line and str(tmp_path / "mlartifacts") in line
    assert "--new-store" in line
    assert not (tmp_path / "mlflow.db").exists()
    with pytest.raises(tracking.TrackingStoreError, match="is missing"):
        tracking.load_champion(ADVOCATE, Settings())


def test_first_use_creates_nothing_until_training_and_scoring_says_store_missing(
    mlflow_store, tmp_path
):
    assert tracking.configure_tracking(Settings()) == mlflow_store
    assert not (tmp_path / "mlflow.db").exists()
    with pytest.raises(tracking.TrackingStoreError) as info:
        tracking.load_champion(ADVOCATE, Settings())
    line = str(info.value)
    assert "no MLflow tracking store" in line and "advocacy train" in line
    assert not (tmp_path / "mlflow.db").exists()


def test_allow_new_store_starts_a_new_registry(mlflow_store, tmp_path):
    (tmp_path / "mlflow.db").touch()
    (tmp_path / "mlartifacts" / "old").mkdir(parents=True)
    (tmp_path / "mlartifacts" / "old" / "f").write_text("x")
    settings = _allowing()
    tracking.configure_tracking(settings)
    experiment_id = tracking.ensure_experiment(mlflow_store, settings)  # first training
    assert experiment_id and (tmp_path / "mlflow.db").stat().st_size > 0
    assert tracking.check_store(mlflow_store, Settings()) == "existing"


def test_non_sqlite_stores_are_not_checked_here():
    assert tracking.check_store("http://127.0.0.1:5000", Settings()) == "remote"
    assert registry_lock.lock_path("http://127.0.0.1:5000") is None
    assert registry_lock.lock_path("sqlite:////x/y/mlflow.db") == Path("/x/y/mlflow.db.lock")


def test_registry_lock_excludes_other_threads_and_is_reentrant(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    inside, order = threading.Event(), []

    def other():
        inside.wait()
        with registry_lock.registry_lock(uri, timeout=10):
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with registry_lock.registry_lock(uri, timeout=10) as locked:
        assert locked
        inside.set()
        with registry_lock.registry_lock(uri, timeout=1):  # same thread: no deadlock
            time.sleep(0.3)
        order.append("first")
    thread.join(10)
    assert order == ["first", "other"]


def test_registry_lock_times_out_naming_the_holder(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    held, release = threading.Event(), threading.Event()

    def holder():
        with registry_lock.registry_lock(uri, timeout=10):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:
        busy = pytest.raises(registry_lock.RegistryBusyError, match=f"pid {os.getpid()}")
        with busy, registry_lock.registry_lock(uri, timeout=0.2):
            pass
    finally:
        release.set()
        thread.join(10)


# ------------------------------------------------------------------ telemetry
CI_MARKERS = (
    "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL",
    "TRAVIS", "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ARN", "BUILDKITE",
    "TEAMCITY_VERSION", "CLOUD_RUN_EXECUTION", "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME",
    "RUNBOT_WORKER_ID", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK",
)  # fmt: skip
PROBE = """
import os, socket
looked_up = []
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: (looked_up.append(host), real(host, *a, **k))[1]
import mlflow  # builds MLflow's telemetry client, as any import of the project's models does
from mlflow.telemetry import get_telemetry_client
assert get_telemetry_client() is not None
from advocacy.models.telemetry import disable_telemetry
disable_telemetry()  # what the CLI and configure_tracking call first
print("client", get_telemetry_client())
print("env", os.environ.get("MLFLOW_DISABLE_TELEMETRY"), os.environ.get("DO_NOT_TRACK"))
mlflow.set_tracking_uri("sqlite:///" + os.path.join(os.environ["PROBE_DIR"], "m.db"))
mlflow.create_experiment("probe")  # a tracked call: telemetry would fetch its config now
import time; time.sleep(1.5)
print("lookups", sorted(h for h in set(looked_up) if h not in ("localhost", "127.0.0.1")))
"""


def test_mlflow_telemetry_is_off_by_default_in_a_fresh_process(tmp_path):
    """MLflow disables itself under pytest/CI, so the check runs in a clean interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in CI_MARKERS}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), PROBE_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout  # fmt: skip
    assert "client None" in out
    assert "env true true" in out
    assert "lookups []" in out


def test_configure_tracking_switches_telemetry_off(monkeypatch, mlflow_store):
    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    tracking.configure_tracking(Settings())
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true" and os.environ["DO_NOT_TRACK"] == "true"
    from mlflow.telemetry import get_telemetry_client

    assert get_telemetry_client() is None


def test_telemetry_switch_respects_a_user_opt_in(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "false")
    telemetry.disable_telemetry()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "false"
    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY")
    monkeypatch.delenv("DO_NOT_TRACK")
    telemetry.disable_telemetry()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true" and os.environ["DO_NOT_TRACK"] == "true"
