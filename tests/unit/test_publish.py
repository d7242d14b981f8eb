"""Atomic publishing: all files or nothing; earlier outputs untouched on failure."""

from __future__ import annotations

import errno
import os
from datetime import date

import pytest

from advocacy.pipelines import publish
from tests.publish_helpers import content, snapshot, writer


def test_publish_into_new_folder(tmp_path):
    target = tmp_path / "out"
    assert publish.publish_atomically(target, writer("v1")) == target
    assert content(target) == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp folders or locks left


def test_republish_replaces_all_files(tmp_path):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    (target / "stale.txt").write_text("from an older run")
    publish.publish_atomically(target, writer("v2"))
    assert sorted(p.name for p in target.iterdir()) == [
        "candidates.csv", "report.html", "run.json", "scores.parquet",
    ]  # fmt: skip
    assert (target / "scores.parquet").read_text() == "v2:scores.parquet"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("fail_after", [0, 2, 3])
def test_failure_while_writing_leaves_previous_outputs_byte_identical(tmp_path, fail_after):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    before = snapshot(target)
    with pytest.raises(RuntimeError, match="disk full"):
        publish.publish_atomically(target, writer("v2", fail_after=fail_after))
    assert snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_of_the_exchange_leaves_previous_outputs(tmp_path, monkeypatch):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    before = snapshot(target)

    def broken(a, b):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(publish, "_exchange", broken)
    with pytest.raises(OSError, match="I/O error"):
        publish.publish_atomically(target, writer("v2"))
    assert snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_on_the_move_restores_previous_outputs(tmp_path, monkeypatch):
    """Fallback switch (no atomic exchange): a failed second rename puts the old set back."""
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    before = snapshot(target)
    real_rename = publish._rename

    def no_exchange(a, b):
        raise OSError(errno.EINVAL, "Invalid argument")

    def flaky_rename(src, dst):
        if ".tmp-" in str(src):  # the finished temp folder moving into place
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(publish, "_exchange", no_exchange)
    monkeypatch.setattr(publish, "_rename", flaky_rename)
    with pytest.raises(OSError, match="rename failed"):
        publish.publish_atomically(target, writer("v2"))
    monkeypatch.undo()
    assert snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_fallback_switch_without_exchange_publishes(tmp_path, monkeypatch):
    def no_exchange(a, b):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(publish, "_exchange", no_exchange)
    root = tmp_path / "output"
    target, _ = publish.resolve_out_dir(None, date(2026, 11, 23), root)
    publish.publish_atomically(target, writer("v1"), point_latest=True)
    publish.publish_atomically(target, writer("v2"), point_latest=True)
    assert content(target) == "v2"
    assert os.readlink(root / "latest") == "2026-11-23"
    assert sorted(p.name for p in root.iterdir()) == ["2026-11-23", "latest"]


def test_default_out_keeps_weeks_and_points_latest(tmp_path):
    root = tmp_path / "output"
    for day, tag in ((date(2026, 11, 16), "w1"), (date(2026, 11, 23), "w2")):
        target, point = publish.resolve_out_dir(None, day, root)
        assert point
        publish.publish_atomically(target, writer(tag), point_latest=point)
    assert content(root / "2026-11-16") == "w1"
    assert (root / "latest").is_symlink()
    assert os.readlink(root / "latest") == "2026-11-23"
    assert content(root / "latest") == "w2"
    assert sorted(p.name for p in root.iterdir()) == ["2026-11-16", "2026-11-23", "latest"]


def test_explicit_out_is_used_as_is_without_latest(tmp_path):
    target, point = publish.resolve_out_dir(tmp_path / "mine", date(2026, 11, 23), tmp_path / "o")
    assert target == tmp_path / "mine"
    assert not point


def test_failed_default_run_keeps_latest_pointing_at_last_good_week(tmp_path):
    root = tmp_path / "output"
    good, _ = publish.resolve_out_dir(None, date(2026, 11, 16), root)
    publish.publish_atomically(good, writer("w1"), point_latest=True)
    bad, _ = publish.resolve_out_dir(None, date(2026, 11, 23), root)
    with pytest.raises(RuntimeError):
        publish.publish_atomically(bad, writer("w2", fail_after=1), point_latest=True)
    assert os.readlink(root / "latest") == "2026-11-16"
    assert not bad.exists()


def test_backfill_of_an_older_week_does_not_move_latest_back(tmp_path):
    root = tmp_path / "output"
    publish.publish_atomically(root / "2026-11-23", writer("new"), point_latest=True)
    publish.publish_atomically(root / "2026-10-05", writer("old"), point_latest=True)
    assert os.readlink(root / "latest") == "2026-11-23"
    assert content(root / "latest") == "new"
