"""Atomic publishing: all files or nothing; earlier outputs untouched on failure."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from pipelines import publish


def _writer(content: str, *, fail_after: int | None = None):
    def write(folder: Path) -> None:
        for i, name in enumerate(("scores.parquet", "candidates.csv", "report.html", "run.json")):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("disk full")
            (folder / name).write_text(f"{content}:{name}")

    return write


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_publish_into_new_folder(tmp_path):
    target = tmp_path / "out"
    publish.publish_atomically(target, _writer("v1"))
    assert (target / "run.json").read_text() == "v1:run.json"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp folders left behind


def test_republish_replaces_all_files(tmp_path):
    target = tmp_path / "out"
    publish.publish_atomically(target, _writer("v1"))
    (target / "stale.txt").write_text("from an older run")
    publish.publish_atomically(target, _writer("v2"))
    assert sorted(p.name for p in target.iterdir()) == [
        "candidates.csv", "report.html", "run.json", "scores.parquet",
    ]  # fmt: skip
    assert (target / "scores.parquet").read_text() == "v2:scores.parquet"


@pytest.mark.parametrize("fail_after", [0, 2, 3])
def test_failure_while_writing_leaves_previous_outputs_byte_identical(tmp_path, fail_after):
    target = tmp_path / "out"
    publish.publish_atomically(target, _writer("v1"))
    before = _snapshot(target)
    with pytest.raises(RuntimeError, match="disk full"):
        publish.publish_atomically(target, _writer("v2", fail_after=fail_after))
    assert _snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_on_the_move_restores_previous_outputs(tmp_path, monkeypatch):
    target = tmp_path / "out"
    publish.publish_atomically(target, _writer("v1"))
    before = _snapshot(target)
    real_rename = os.rename

    def flaky_rename(src, dst):
        if ".tmp-" in str(src):  # the finished temp folder moving into place
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(publish.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="rename failed"):
        publish.publish_atomically(target, _writer("v2"))
    monkeypatch.undo()
    assert _snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_default_out_keeps_weeks_and_points_latest(tmp_path):
    root = tmp_path / "output"
    for day, tag in ((date(2026, 11, 16), "w1"), (date(2026, 11, 23), "w2")):
        target, point = publish.resolve_out_dir(None, day, root)
        assert point
        publish.publish_atomically(target, _writer(tag), point_latest=point)
    assert (root / "2026-11-16" / "run.json").read_text() == "w1:run.json"
    assert (root / "latest").is_symlink()
    assert os.readlink(root / "latest") == "2026-11-23"
    assert (root / "latest" / "run.json").read_text() == "w2:run.json"


def test_explicit_out_is_used_as_is_without_latest(tmp_path):
    target, point = publish.resolve_out_dir(tmp_path / "mine", date(2026, 11, 23), tmp_path / "o")
    assert target == tmp_path / "mine"
    assert not point


def test_failed_default_run_keeps_latest_pointing_at_last_good_week(tmp_path):
    root = tmp_path / "output"
    good, _ = publish.resolve_out_dir(None, date(2026, 11, 16), root)
    publish.publish_atomically(good, _writer("w1"), point_latest=True)
    bad, _ = publish.resolve_out_dir(None, date(2026, 11, 23), root)
    with pytest.raises(RuntimeError):
        publish.publish_atomically(bad, _writer("w2", fail_after=1), point_latest=True)
    assert os.readlink(root / "latest") == "2026-11-16"
    assert not bad.exists()
