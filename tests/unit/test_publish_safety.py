"""A publish replaces its whole out folder, so it refuses folders that hold anything else."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from advocacy.pipelines import publish
from tests.publish_helpers import content, writer


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder like a user's: settings, data, the default MLflow store."""
    work = tmp_path / "home" / "me" / "project"
    (work / "data").mkdir(parents=True)
    (work / "data" / "contacts.csv").write_text("contact_id\nc1\n")
    (work / "mlflow.db").write_bytes(b"SQLite format 3\x00")
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "me"))
    monkeypatch.chdir(work)
    return work


def _refused(target, match: str, **kwargs) -> str:
    with pytest.raises(publish.UnsafeOutputError, match=match) as err:
        publish.publish_atomically(target, writer("v1"), **kwargs)
    message = str(err.value)
    assert "\n" not in message
    assert "choose an empty or new folder" in message
    return message


def test_refuses_the_working_folder(workdir):
    before = _tree(workdir.parent)
    target, _ = publish.resolve_out_dir(".", date(2026, 11, 23), "output")
    message = _refused(target, "current working folder")
    assert str(workdir) in message
    assert _tree(workdir.parent) == before  # mlflow.db and the data are still there
    assert sorted(p.name for p in workdir.parent.iterdir()) == ["project"]  # no lock, no temp


@pytest.mark.parametrize("up", ["..", "../.."])
def test_refuses_an_ancestor_of_the_working_folder(workdir, up):
    before = _tree(workdir.parent.parent)
    _refused(Path(up), "contains the current working folder")
    assert _tree(workdir.parent.parent) == before


def test_refuses_the_filesystem_root():
    with pytest.raises(publish.UnsafeOutputError, match="filesystem root"):
        publish.check_target("/")


def test_refuses_home_and_its_ancestors(tmp_path, monkeypatch):
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    _refused(home, "it is the home folder")
    _refused(home.parent, "contains the home folder")
    assert sorted(p.name for p in home.parent.iterdir()) == ["me"]


def test_refuses_a_non_empty_foreign_folder(workdir, tmp_path):
    etc = tmp_path / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    before = _tree(tmp_path / "etc")
    message = _refused(workdir / ".." / ".." / ".." / "etc", "not empty")
    assert str(etc) in message
    assert _tree(etc) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc", "home"]


def test_refuses_a_folder_with_a_foreign_run_json(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "run.json").write_text(json.dumps({"run": 1}))
    (target / "notes.txt").write_text("mine")
    _refused(target, "no run.json from an earlier publish")
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "run.json"]


def test_refuses_an_existing_file(tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder")
    _refused(target, "not a folder")
    assert target.read_text() == "not a folder"


def test_refuses_an_earlier_publish_that_now_holds_an_mlflow_store(tmp_path):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    (target / "mlruns").mkdir()
    before = _tree(target)
    _refused(target, "mlruns")
    assert _tree(target) == before


def test_refuses_a_protected_folder_and_its_ancestors(tmp_path):
    data = tmp_path / "world" / "data"
    data.mkdir(parents=True)
    _refused(data, "it is", protect=[data])
    _refused(data.parent, "it contains", protect=[data])


@pytest.mark.parametrize("scheme", ["sqlite:///", "file://", ""])
def test_refuses_a_folder_holding_the_mlflow_store(tmp_path, monkeypatch, scheme):
    store = tmp_path / "tracking" / ("mlflow.db" if scheme == "sqlite:///" else "mlruns")
    store.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"{scheme}{store}")
    _refused(store.parent, "contains the MLflow store")
    assert list(store.parent.iterdir()) == []


def test_accepts_a_new_folder_with_new_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out"
    publish.publish_atomically(target, writer("v1"))
    assert content(target) == "v1"


def test_accepts_an_empty_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    publish.publish_atomically(target, writer("v1"))
    assert content(target) == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_accepts_a_folder_from_an_earlier_publish(tmp_path):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    (target / "stale.txt").write_text("from an older run")
    publish.publish_atomically(target, writer("v2"))
    assert content(target) == "v2"


def test_accepts_a_folder_inside_the_working_folder(workdir):
    publish.publish_atomically("out", writer("v1"))
    assert content(workdir / "out") == "v1"
    assert (workdir / "mlflow.db").exists()


def test_unsafe_output_error_is_a_usage_error():
    assert issubclass(publish.UnsafeOutputError, ValueError)
    assert not issubclass(publish.UnsafeOutputError, OSError)  # Prefect does not retry it


def test_check_target_returns_the_absolute_folder(workdir):
    assert publish.check_target("out") == workdir / "out"
    assert os.path.isabs(publish.check_target(Path("a") / ".." / "out"))


def test_the_real_run_manifest_carries_the_marker_keys():
    """A re-run must recognise what `pipelines.outputs` publishes as an earlier publish."""
    import pandas as pd

    from advocacy.pipelines.outputs import FILES, RunBundle
    from advocacy.settings import Settings

    assert FILES[-1] == publish.MARKER  # written last, after the files it describes
    bundle = RunBundle(
        as_of=date(2026, 11, 23), scores=pd.DataFrame({"eligible": [True]}),
        candidates=pd.DataFrame(), models=[], inputs=[], contracts={}, settings=Settings(),
    )  # fmt: skip
    assert set(publish.MARKER_KEYS) <= set(bundle.manifest({}))
