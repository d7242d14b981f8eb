"""The registry under failure: retries, concurrent promotions, partial runs, dead runs, bad
champions. Real MLflow on a temp SQLite store; faults are injected into this project's own
functions only."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
from mlflow.tracking import MlflowClient

from advocacy.models import gate, targets, tracking
from advocacy.models.train import FittedTarget, fit_target
from advocacy.pipelines import errors
from advocacy.settings import Settings
from tests.model_frames import CATEGORICAL, FEATURES, frame_spec, make_frame

pytestmark = pytest.mark.slow

AS_OF = "2025-12-01"
FINGERPRINT = {"as_of": AS_OF, "inputs": {"contacts": {"rows": 3000, "sha256": "ab12"}}}
ADVOCATE, BURNOUT = "advocacy-propensity", "advocacy-burnout"


def _fit(frame: pd.DataFrame, target: str, features=FEATURES, categorical=None) -> FittedTarget:
    cats = categorical if categorical is not None else [c for c in CATEGORICAL if c in features]
    return fit_target(frame, frame_spec(target), Settings(), features=features, categorical=cats)


@pytest.fixture(scope="module")
def good() -> dict[str, FittedTarget]:
    return {target: _fit(make_frame(seed=1), target) for target in ("advocate", "burnout")}


@pytest.fixture(scope="module")
def fewer() -> FittedTarget:
    """An advocate model without the `noise` column: a champion with it cannot score its rows."""
    features = [f for f in FEATURES if f != "noise"]
    return _fit(make_frame(seed=1).drop(columns="noise"), "advocate", features)


@pytest.fixture(scope="module")
def pristine_db(tmp_path_factory) -> Path:
    """An empty MLflow database made once (the migrations take seconds); tests copy it."""
    folder = tmp_path_factory.mktemp("pristine")
    db = folder / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(mlflow_store, pristine_db, tmp_path) -> Settings:
    shutil.copy(pristine_db, tmp_path / "mlflow.db")
    settings = Settings()
    tracking.configure_tracking(settings)
    return settings


def _register(fitted: FittedTarget, settings: Settings, as_of=AS_OF) -> tracking.Candidate:
    fingerprint = {**FINGERPRINT, "as_of": as_of}
    return tracking.register_candidate(fitted, settings, as_of=as_of, data_fingerprint=fingerprint)


def _champion(name: str) -> int | None:
    return tracking.champion_version(MlflowClient(), name, "champion")


def _versions(name: str) -> list:
    return MlflowClient().search_model_versions(f"name = '{name}'")


def _promotion_tags(name: str, version: int) -> dict[str, str]:
    tags = MlflowClient().get_model_version(name, str(version)).tags
    return {k: v for k, v in tags.items() if k.startswith("promotion.")}


# ------------------------------------------------------------------ retries
def test_registering_the_same_training_twice_gives_one_run_and_one_version(store, good):
    first = _register(good["advocate"], store)
    again = _register(good["advocate"], store)
    assert (again.version, again.run_id, again.reused) == (first.version, first.run_id, True)
    assert not first.reused and len(_versions(ADVOCATE)) == 1
    client = MlflowClient()
    experiment = client.get_experiment_by_name(store.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [first.run_id]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags[tracking.TAG_RUN_KEY] == first.run_key
    assert run.data.tags[tracking.TAG_PID].isdigit() and run.data.tags[tracking.TAG_HOST]
    version_tags = client.get_model_version(ADVOCATE, str(first.version)).tags
    assert version_tags[tracking.TAG_RUN_KEY] == first.run_key
    assert _champion(ADVOCATE) is None  # registering never promotes


def test_database_locked_on_the_alias_step_then_retry_gives_one_champion(store, good, monkeypatch):
    real = tracking._set_alias
    calls = []

    def locked_twice(client, name, alias, version):
        calls.append(version)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        if len(calls) == 3:  # the same, as MLflow's SQL store reports it (after one alias)
            raise MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)
        real(client, name, alias, version)

    monkeypatch.setattr(tracking, "_set_alias", locked_twice)
    candidates = [_register(good[t], store) for t in ("advocate", "burnout")]
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        tracking.promote_candidates(candidates, store)
    assert _champion(ADVOCATE) is None and _champion(BURNOUT) is None  # nothing half-done
    assert _promotion_tags(ADVOCATE, 1)["promotion.promoted"] == "false"
    with pytest.raises(MlflowException, match="locked") as busy:
        tracking.promote_candidates(candidates, store)
    assert errors.is_transient(busy.value)  # the flows' retry condition retries it
    assert _champion(ADVOCATE) is None and _champion(BURNOUT) is None  # rolled back
    # the retry: Prefect re-runs the tasks (registration included) with the same inputs
    candidates = [_register(good[t], store) for t in ("advocate", "burnout")]
    outcomes = tracking.promote_candidates(candidates, store)
    assert all(c.reused for c in candidates)
    for name, outcome in zip((ADVOCATE, BURNOUT), outcomes, strict=True):
        assert [int(v.version) for v in _versions(name)] == [1]
        assert (outcome.version, outcome.promoted) == (1, True)
        assert "no champion yet" in outcome.decision
        assert _champion(name) == 1
        tags = _promotion_tags(name, 1)
        assert tags["promotion.promoted"] == "true"
        assert tags["promotion.decision"] == outcome.decision
        run_tags = MlflowClient().get_run(outcome.run_id).data.tags
        assert run_tags["promotion.decision"] == outcome.decision
    # and once more: a retry after success changes nothing
    again = tracking.promote_candidates(candidates, store)
    assert [(o.version, o.promoted, o.decision) for o in again] == [
        (o.version, o.promoted, o.decision) for o in outcomes
    ]


# ------------------------------------------------------------------ concurrency
def test_two_concurrent_promotions_never_both_see_no_champion(store, good, fewer, monkeypatch):
    first, second = _register(good["advocate"], store), _register(fewer, store)
    real_decide = gate.decide

    def slow_decide(*args, **kwargs):  # widen the window between reading and setting the alias
        time.sleep(0.5)
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(gate, "decide", slow_decide)
    barrier = threading.Barrier(2)
    results: dict[int, tracking.RegistryOutcome] = {}
    errors: list[BaseException] = []

    def promote(candidate: tracking.Candidate) -> None:
        try:
            barrier.wait()
            results[candidate.version] = tracking.promote_candidates([candidate], store)[0]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    decisions = [o.decision for o in results.values()]
    assert sum("no champion yet" in d for d in decisions) == 1, decisions
    later = next(o for o in results.values() if "no champion yet" not in o.decision)
    earlier = next(o for o in results.values() if "no champion yet" in o.decision)
    assert later.champion_before == earlier.version
    assert _champion(ADVOCATE) in (first.version, second.version)


def test_without_a_lock_the_alias_is_compared_and_set(store, good, fewer, monkeypatch):
    """Tracking servers: the alias moved between the gate and the set -> gate again."""
    champion = _register(good["advocate"], store)
    tracking.promote_candidates([champion], store)
    candidate = _register(fewer, store)
    assert candidate.version == 2
    monkeypatch.setattr(tracking, "registry_lock", _no_lock)
    real_gate, moved = tracking._gate, []

    def gate_then_someone_promotes(client, c, current, settings):
        decision = real_gate(client, c, current, settings)
        if not moved:  # another run promotes v3 of the same model right after our gate read
            moved.append(_register(good["advocate"], store, as_of="2025-12-08"))
            client.set_registered_model_alias(ADVOCATE, "champion", str(moved[0].version))
        return decision

    monkeypatch.setattr(tracking, "_gate", gate_then_someone_promotes)
    outcome = tracking.promote_candidates([candidate], store)[0]
    assert outcome.champion_before == moved[0].version == 3
    assert outcome.decision.startswith(f"champion v{moved[0].version} could not score")
    assert _champion(ADVOCATE) == 2


class _no_lock:  # noqa: N801 - stands in for the registry_lock context manager
    def __init__(self, uri, timeout):
        pass

    def __enter__(self):
        return False

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------ partial runs
def test_training_that_fails_on_the_second_model_promotes_nothing(
    store, prefect_harness, monkeypatch
):
    """The real job through its Prefect tasks; the second target has too few rows."""
    from prefect import flow

    from advocacy.pipelines import flows, job

    def fit_toy(frame, spec, settings, facts=None):
        return _fit(frame, spec.name)

    monkeypatch.setattr(job, "fit_target", fit_toy)
    rows = job.Rows(
        training=(
            job.TrainingRows(targets.ADVOCATE, make_frame(seed=1)),
            job.TrainingRows(targets.BURNOUT, make_frame(seed=1).head(20)),
        )
    )
    inputs = job.JobInputs(Path("."), date(2025, 12, 1), store)
    checked = job.CheckedInputs(inputs, contracts=None, profiles=[])  # type: ignore[arg-type]

    @flow
    def train_two():
        return job.train(checked, rows, flows.PREFECT)

    with pytest.raises(ValueError):
        train_two()
    assert _champion(ADVOCATE) is None and _champion(BURNOUT) is None


def test_prefect_retries_locked_registration_and_promotion_without_duplicates(
    store, good, prefect_harness, monkeypatch
):
    """The real tasks and retry condition: one fault in each step, one version in the end."""
    from prefect import flow

    from advocacy.pipelines import flows

    real_set, real_register = tracking._set_alias, tracking._register_version
    faults = {"register": 1, "alias": 1}

    def register_then_lose_the_reply(*args):  # the version exists, the task fails anyway
        version = real_register(*args)
        if faults["register"]:
            faults["register"] -= 1
            raise MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)
        return version

    def alias_locked_once(client, name, alias, version):
        if faults["alias"]:
            faults["alias"] -= 1
            raise sqlite3.OperationalError("database is locked")
        real_set(client, name, alias, version)

    monkeypatch.setattr(tracking, "_register_version", register_then_lose_the_reply)
    monkeypatch.setattr(tracking, "_set_alias", alias_locked_once)
    register = flows.register_model.with_options(retry_delay_seconds=0)
    promote = flows.promote_models.with_options(retry_delay_seconds=0)

    @flow
    def train_advocate():
        return promote([register(good["advocate"], store, AS_OF, FINGERPRINT)], store)

    (outcome,) = train_advocate()
    assert faults == {"register": 0, "alias": 0}
    assert [int(v.version) for v in _versions(ADVOCATE)] == [1]
    assert (outcome.version, outcome.promoted) == (1, True) and _champion(ADVOCATE) == 1
    assert _promotion_tags(ADVOCATE, 1)["promotion.promoted"] == "true"


def test_a_champion_failing_unexpectedly_on_the_second_model_promotes_neither(
    store, good, fewer, monkeypatch
):
    tracking.promote_candidates([_register(good["burnout"], store)], store)
    advocate = _register(fewer, store)  # would be promoted: there is no advocate champion
    burnout_again = _register(good["burnout"], store, as_of="2025-12-08")  # a later week

    def broken(model, version, fitted, **champion_record):
        raise RuntimeError("champion scoring blew up")

    monkeypatch.setattr(tracking, "evaluate_champion", broken)
    with pytest.raises(RuntimeError, match="blew up"):
        tracking.promote_candidates([advocate, burnout_again], store)
    assert _champion(ADVOCATE) is None and _champion(BURNOUT) == 1
    assert _promotion_tags(ADVOCATE, advocate.version) == {}


UNEXPECTED = [
    OSError("disk unreadable"),
    RuntimeError("boom"),
    KeyError("some column"),
    ValueError("bad value"),
    TypeError("bad type"),
    AttributeError("gone"),
    ImportError("module renamed"),
    MlflowException("server hiccup"),
]


def test_gate_never_promotes_because_the_champion_raised(store, good, monkeypatch):
    """Only the documented cases replace a champion; here: schema enforcement, after faults."""
    tracking.promote_candidates([_register(good["advocate"], store)], store)
    frame = make_frame(seed=1)
    frame["noise"] = np.where(frame["noise"] > 0, "high", "low")  # a number became text
    candidate = _register(_fit(frame, "advocate", categorical=[*CATEGORICAL, "noise"]), store)
    for error in UNEXPECTED:

        def raising(*args, error=error, **kwargs):
            raise error

        for where in ("_load_version", "evaluate_champion"):  # loading, then scoring
            with monkeypatch.context() as patch:
                patch.setattr(tracking, where, raising)
                with pytest.raises(type(error)):
                    tracking.promote_candidates([candidate], store)
            assert _champion(ADVOCATE) == 1, (where, error)
            assert _promotion_tags(ADVOCATE, candidate.version) == {}, (where, error)
    # the same candidate with the champion loading fine: MLflow's schema enforcement rejects
    # the new text column, a documented case, so the champion is replaced and the text says so
    outcome = tracking.promote_candidates([candidate], store)[0]
    assert outcome.promoted and outcome.champion_before == 1 and _champion(ADVOCATE) == 2
    assert "schema enforcement rejected" in outcome.decision and "noise" in outcome.decision
    assert _promotion_tags(ADVOCATE, 2)["promotion.kind"] == "champion_cannot_evaluate"


# ------------------------------------------------------------------ champion messages
def test_missing_champion_or_champion_files_name_model_alias_version_and_place(store, good, fewer):
    tracking.promote_candidates([_register(good["advocate"], store)], store)
    with pytest.raises(tracking.NoChampionError) as info:
        tracking.load_champion(targets.BURNOUT, store)
    assert "advocacy-burnout has no @champion" in str(info.value)
    assert "advocacy train" in str(info.value)
    location = MlflowClient().get_model_version_download_uri(ADVOCATE, "1")
    shutil.rmtree(urlparse(location).path)
    with pytest.raises(tracking.ChampionArtifactError) as info:
        tracking.load_champion(targets.ADVOCATE, store)
    text = str(info.value)
    assert "advocacy-propensity@champion is version 1" in text and location in text
    assert "are missing" in text and "No such artifact: ''" not in text
    # the next training stops too: a champion that cannot be read is not replaced silently
    candidate = _register(fewer, store)
    with pytest.raises(tracking.ChampionArtifactError):
        tracking.promote_candidates([candidate], store)
    assert _champion(ADVOCATE) == 1
    assert _promotion_tags(ADVOCATE, candidate.version) == {}
    assert not any(k.startswith("promotion.") for k in _run_tags(candidate.run_id))


def _model_files(name: str, version: int) -> dict[Path, bytes]:
    """Every file of a version's logged model, with its content."""
    folder = Path(urlparse(MlflowClient().get_model_version_download_uri(name, str(version))).path)
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_champion_whose_model_files_are_corrupt_is_never_replaced(store, good, fewer):
    """Unloadable for an unexpected reason (not a documented CannotEvaluate case): the promotion
    raises, @champion keeps the old version, and the new one is neither promoted nor judged,
    although it would replace a champion that merely could not score its rows."""
    tracking.promote_candidates([_register(good["advocate"], store)], store)
    candidate = _register(fewer, store)  # lacks `noise`: a loadable champion could not score it
    saved = _model_files(ADVOCATE, 1)
    broken = [path for path in saved if path.name != "MLmodel"]  # present, so not "missing"
    assert broken
    for path in broken:
        path.write_bytes(b"\x00not what was logged\xff")
    with pytest.raises(tracking.ChampionArtifactError) as info:
        tracking.promote_candidates([candidate], store)
    assert "cannot be loaded" in str(info.value) and "@champion is version 1" in str(info.value)
    assert _champion(ADVOCATE) == 1
    assert _promotion_tags(ADVOCATE, candidate.version) == {}
    assert not any(k.startswith("promotion.") for k in _run_tags(candidate.run_id))
    with pytest.raises(tracking.ChampionArtifactError):  # scoring refuses it the same way
        tracking.load_champion(targets.ADVOCATE, store)
    for path, content in saved.items():  # restored: now the documented case applies
        path.write_bytes(content)
    outcome = tracking.promote_candidates([candidate], store)[0]
    assert outcome.promoted and outcome.champion_before == 1 and _champion(ADVOCATE) == 2
    assert "could not score" in outcome.decision and "noise" in outcome.decision


def _run_tags(run_id: str) -> dict[str, str]:
    return MlflowClient().get_run(run_id).data.tags


# ------------------------------------------------------------------ dead runs
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_running_runs_are_marked_failed_at_the_next_start(store):
    client = MlflowClient()
    experiment_id = client.get_experiment_by_name(store.tracking.experiment).experiment_id
    here = tracking.run_identity_tags()[tracking.TAG_HOST]
    now = int(time.time() * 1000)
    day = 24 * 3_600_000
    runs = {
        "killed": client.create_run(
            experiment_id, tags={tracking.TAG_HOST: here, tracking.TAG_PID: str(_dead_pid())}
        ),
        "ancient": client.create_run(experiment_id, start_time=now - 3 * day),
        "alive": client.create_run(experiment_id, tags=tracking.run_identity_tags()),
        "elsewhere": client.create_run(
            experiment_id, tags={tracking.TAG_HOST: "another-host", tracking.TAG_PID: "1"}
        ),
    }
    tracking.configure_tracking(store)
    status = {k: client.get_run(r.info.run_id) for k, r in runs.items()}
    assert status["killed"].info.status == "FAILED"
    assert "is gone" in status["killed"].data.tags[tracking.TAG_FAILED_REASON]
    assert status["ancient"].info.status == "FAILED"
    assert "stale_run_hours" in status["ancient"].data.tags[tracking.TAG_FAILED_REASON]
    assert status["alive"].info.status == "RUNNING"
    assert status["elsewhere"].info.status == "RUNNING"
