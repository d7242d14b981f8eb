"""A registered model is self-contained: it loads, predicts and serves without `advocacy`.

The model is logged by `tracking._log_model` into a real (temporary) MLflow store, registered
and made `@champion`. A subprocess that cannot import the project (`python -I` plus an import
blocker, in an empty folder) loads it, predicts, and lists what it imported: each third-party
module must come from the logged requirements or their dependencies.

`ADVOCACY_FRESH_ENV=1` also builds a fresh virtualenv from the logged `requirements.txt` (pip,
the configured package index) and serves the model from it with `mlflow models serve` on
loopback: minutes of installing, so it is not part of `make test`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from advocacy.models import tracking
from advocacy.models.calibrate import fit_margin_calibrator
from advocacy.models.pyfunc_model import CODE_FILE, AdvocacyModel, CategoryEncoder

pytestmark = pytest.mark.slow

NAME = "advocacy-propensity"
FEATURES = ["nps_latest", "usage_events_30d", "account_segment"]
PINNED = ("lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
# The project's namespace and the generic names it used to install: none may be imported.
PROJECT = ("advocacy", "models", "features", "pipelines", "data_contracts", "synthetic", "policy")

LOAD_SCRIPT = """
import importlib.abc, json, sys

job = json.loads(open(sys.argv[1]).read())
BLOCKED = set(job["blocked"])

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
before = set(sys.modules)
import mlflow.pyfunc
import pandas as pd

rows = pd.DataFrame(**job["rows"])
model = mlflow.pyfunc.load_model(job["uri"])
p = model.predict(rows)
contrib = model.unwrap_python_model().contributions(rows)
new = {m: getattr(sys.modules[m], "__file__", None) for m in set(sys.modules) - before}
print(json.dumps({
    "p": [float(v) for v in p],
    "contrib": contrib.to_numpy().tolist(),
    "columns": list(contrib.columns),
    "files": sorted(f for f in new.values() if isinstance(f, str)),
    "project": sorted(m for m in sys.modules if m.split(".")[0] in job["project"]),
}))
"""


@dataclass(frozen=True)
class Registered:
    tracking_uri: str
    uri: str  # models:/<name>@champion
    model: AdvocacyModel  # the in-memory model that was logged
    rows: pd.DataFrame  # raw feature rows to score


def _frame(n: int = 800, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.15] = np.nan
    usage = rng.gamma(2.0, 5.0, n)
    segment = np.where(rng.random(n) < 0.1, None, rng.choice(["smb", "enterprise"], n))
    logit = 0.4 * (np.nan_to_num(nps, nan=5.0) - 5.0) + 0.1 * (usage - 10.0)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {"nps_latest": nps, "usage_events_30d": usage, "account_segment": segment}
    ).astype({"account_segment": "str"})
    return X, y


def _fitted_model(X: pd.DataFrame, y: np.ndarray) -> AdvocacyModel:
    """A small model built the way training builds one: encoder, booster, calibrator."""
    model = AdvocacyModel(
        encoder=CategoryEncoder.fit(X[:500], ["account_segment"]),
        features=FEATURES,
        target="advocate",
    )
    E = model.encode(X)
    clf = lgb.LGBMClassifier(n_estimators=100, num_leaves=7, verbosity=-1, deterministic=True)
    clf.fit(
        E[:500],
        y[:500],
        categorical_feature=["account_segment"],
        eval_X=(E[500:650],),
        eval_y=(y[500:650],),
        callbacks=[lgb.early_stopping(5, verbose=False)],
    )
    model.classifier = clf
    margin = clf.predict(E[500:650], raw_score=True)
    model.calibrator = fit_margin_calibrator(margin, y[500:650], "sigmoid")
    return model


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Registered:
    root = tmp_path_factory.mktemp("self-contained")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    X, y = _frame()
    model = _fitted_model(X, y)
    holdout = X[650:].reset_index(drop=True)
    fitted = SimpleNamespace(  # what `_log_model` reads of a FittedTarget
        model=model,
        holdout_features=holdout,
        holdout=pd.DataFrame({"p": model.predict_proba(holdout)}),
    )
    mlflow.set_tracking_uri(uri)
    try:
        location = (root / "mlartifacts").resolve().as_uri()
        experiment = mlflow.create_experiment("self-contained", artifact_location=location)
        with mlflow.start_run(experiment_id=experiment):
            model_uri = tracking._log_model(fitted)  # type: ignore[arg-type]
        version = mlflow.register_model(model_uri, NAME).version
        MlflowClient().set_registered_model_alias(NAME, "champion", version)
        yield Registered(uri, f"models:/{NAME}@champion", model, holdout.head(8))
    finally:
        mlflow.set_tracking_uri(None)


def _rows_json(rows: pd.DataFrame) -> dict:
    """`pd.DataFrame(**this)` rebuilds the rows (missing values as JSON null)."""
    split = rows.astype(object).where(rows.notna(), None).to_dict(orient="split")
    return {"data": split["data"], "columns": split["columns"]}


def _env(reg: Registered) -> dict[str, str]:
    return {**os.environ, **QUIET, "MLFLOW_TRACKING_URI": reg.tracking_uri}


def _requirements(reg: Registered) -> list[Requirement]:
    mlflow.set_tracking_uri(reg.tracking_uri)
    path = Path(mlflow.pyfunc.get_model_dependencies(reg.uri))
    return [Requirement(line) for line in path.read_text().splitlines() if line.strip()]


def _with_dependencies(names: set[str]) -> set[str]:
    """The distributions `names` pull in when installed (no extras), names canonical."""
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def _outside(installed: set[str]) -> set[str]:
    """Top-level modules that only distributions outside `installed` provide."""
    inside, outside = set(), set()
    for module, dists in metadata.packages_distributions().items():
        ours = any(canonicalize_name(d) in installed for d in dists)
        (inside if ours else outside).add(module)
    return outside - inside


@pytest.fixture(scope="module")
def closure(registered) -> set[str]:
    """Every distribution a fresh install of the logged requirements.txt would hold."""
    return _with_dependencies({r.name for r in _requirements(registered)})


@pytest.fixture(scope="module")
def isolated(registered, closure, tmp_path_factory) -> dict:
    """Load and predict in a subprocess that sees only the logged requirements: `python -I`
    in an empty folder; the project and every distribution outside them cannot be imported."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    job = {
        "uri": registered.uri,
        "rows": _rows_json(registered.rows),
        "project": PROJECT,
        "blocked": sorted({*PROJECT, *_outside(closure)}),
    }
    (cwd / "job.json").write_text(json.dumps(job))
    argv = [sys.executable, "-I", "-c", LOAD_SCRIPT, str(cwd / "job.json")]
    done = subprocess.run(
        argv, cwd=cwd, env=_env(registered), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _file_owners() -> dict[str, str]:
    """Installed file (normalised path) -> the canonical name of the distribution that owns it."""
    owners = {}
    for dist in metadata.distributions():
        base, name = os.path.abspath(dist.locate_file("")), canonicalize_name(dist.name)
        for file in dist.files or []:  # joined as text: locate_file per file takes a minute
            owners[os.path.normpath(os.path.join(base, str(file)))] = name
    return owners


def test_loads_and_predicts_where_the_project_cannot_be_imported(registered, isolated):
    assert isolated["project"] == []
    expected = registered.model.predict_proba(registered.rows)
    np.testing.assert_array_equal(np.array(isolated["p"]), expected)
    contrib = registered.model.contributions(registered.rows)
    assert isolated["columns"] == [*FEATURES, "bias"] == list(contrib.columns)
    np.testing.assert_array_equal(np.array(isolated["contrib"]), contrib.to_numpy())


def test_what_loading_imports_is_covered_by_the_logged_requirements(closure, isolated):
    owners = _file_owners()
    stdlib = Path(os.path.abspath(sysconfig.get_paths()["stdlib"]))
    uncovered, seen = [], set()
    for name in isolated["files"]:
        path = Path(os.path.normpath(os.path.abspath(name)))
        if path.is_relative_to(stdlib) and "site-packages" not in path.parts:
            continue
        owner = owners.get(str(path))
        if owner is None and path.name == CODE_FILE.name:
            continue  # the model's own code file, logged with the model
        seen.add(owner)
        if owner not in closure:
            uncovered.append(f"{path} ({owner or 'no distribution'})")
    assert not uncovered, f"not from the requirements: {uncovered}"
    assert {"mlflow", "lightgbm", "scikit-learn", "pandas"} <= seen  # the check looked


def test_the_logged_requirements_pin_the_installed_versions(registered):
    pins = {canonicalize_name(r.name): str(r.specifier) for r in _requirements(registered)}
    for name in PINNED:
        assert pins.get(canonicalize_name(name)) == f"=={metadata.version(name)}", name


# ------------------------------------------------------------ a fresh virtualenv (opt-in)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _wait_ready(url: str, server: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow models serve exited early"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} not ready after {seconds:.0f} s")


@pytest.mark.skipif(
    os.environ.get("ADVOCACY_FRESH_ENV") != "1", reason="set ADVOCACY_FRESH_ENV=1 (minutes)"
)
def test_serves_from_a_fresh_virtualenv_built_from_the_logged_requirements(registered, tmp_path):
    venv = tmp_path / "venv"
    env = {**_env(registered), "VIRTUAL_ENV": str(venv)}  # as if activated: serve runs uvicorn
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(str(r) for r in _requirements(registered)))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True, env=env, timeout=1800)
    port = _free_port()
    serve = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", registered.uri]
    serve += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    server = subprocess.Popen(serve, cwd=tmp_path, env=env, start_new_session=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ping", server, 180)
        rows = _rows_json(registered.rows)
        answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_split": rows})
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker
        server.wait(timeout=60)
    expected = registered.model.predict_proba(registered.rows)
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-12, atol=0)


def test_a_champion_pickled_before_the_namespace_still_loads_and_scores(registered, tmp_path):
    """Versions logged as a cloudpickle referring to `models.pyfunc_model` (before one
    `advocacy` namespace) load under a temporary alias, score as the model did, and leave no
    generic module behind."""
    from advocacy.models import pyfunc_model

    rows = registered.rows
    mlflow.set_tracking_uri(registered.tracking_uri)
    try:
        legacy = AdvocacyModel(
            classifier=registered.model.classifier,
            calibrator=registered.model.calibrator,
            encoder=registered.model.encoder,
            features=FEATURES,
            target="advocate",
        )
        # Pickle it the way the old package layout did: by reference to `models.pyfunc_model`.
        sys.modules["models.pyfunc_model"] = pyfunc_model
        AdvocacyModel.__module__ = "models.pyfunc_model"
        try:
            experiment = mlflow.get_experiment_by_name("self-contained").experiment_id
            with mlflow.start_run(experiment_id=experiment):  # artifacts in the temp store
                info = mlflow.pyfunc.log_model(name="model", python_model=legacy)
        finally:
            AdvocacyModel.__module__ = pyfunc_model.__name__
            del sys.modules["models.pyfunc_model"]
        version = mlflow.register_model(info.model_uri, NAME).version
        MlflowClient().set_registered_model_alias(NAME, "legacy", version)  # @champion stays
    finally:
        mlflow.set_tracking_uri(None)
    # Outside the repository (where `models` is not importable), as a deployment would run.
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps({"uri": registered.tracking_uri, "version": version, "rows": _rows_json(rows)})
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", LEGACY_SCRIPT, str(job)],
        cwd=tmp_path, env=_env(registered), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["plain_load"] == "ModuleNotFoundError: models"
    assert out["version"] == int(version)
    assert out["left"] == []
    np.testing.assert_allclose(out["p"], registered.model.predict_proba(rows), rtol=1e-12)


LEGACY_SCRIPT = """
import json, sys
import mlflow, pandas as pd
from advocacy.models import tracking
from advocacy.models.targets import ADVOCATE
from advocacy.settings import Settings

job = json.loads(open(sys.argv[1]).read())
mlflow.set_tracking_uri(job["uri"])
try:
    mlflow.pyfunc.load_model(f"models:/advocacy-propensity/{job['version']}")
    plain = "loaded"
except ModuleNotFoundError as exc:
    plain = f"ModuleNotFoundError: {exc.name.split('.')[0]}"
settings = Settings(tracking={"champion_alias": "legacy", "default_tracking_uri": job["uri"]})
champion = tracking.load_champion(ADVOCATE, settings)
rows = pd.DataFrame(**job["rows"])
print(json.dumps({
    "plain_load": plain, "version": champion.version,
    "p": [float(v) for v in champion.model.predict_proba(rows)],
    "left": sorted(m for m in sys.modules if m.split(".")[0] == "models"),
}))
"""
