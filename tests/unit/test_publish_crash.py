"""Publishing survives being killed at any step, concurrent publishers, and old leftovers.

A publish is run in a forked child that dies (`os._exit`, no cleanup, no `finally`) just before
or just after each step that changes the folder; the state it leaves is exactly what a reader
could see at that moment and what the next publish starts from.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import threading
from datetime import date
from pathlib import Path

import pytest

from advocacy.pipelines import publish
from tests.publish_helpers import KILLED, content, leftovers, writer

STEPS = ("_exchange", "_rename", "_symlink", "_replace", "_remove")
W1, W2 = date(2026, 11, 16), date(2026, 11, 23)


def _no_exchange(a, b):
    raise OSError(errno.EINVAL, "Invalid argument")


def _instrument(mp: pytest.MonkeyPatch, kill_at: tuple[int, str] | None = None) -> list[str]:
    """Wrap each step of the module; record the calls; die before/after call number i."""
    calls: list[str] = []
    for name in STEPS:
        real = getattr(publish, name)

        def step(*args, _real=real, _name=name):
            i = len(calls)
            calls.append(_name)
            if kill_at == (i, "before"):
                os._exit(KILLED)
            try:
                return _real(*args)
            finally:
                if kill_at == (i, "after"):
                    os._exit(KILLED)

        mp.setattr(publish, name, step)
    return calls


def _in_child(fn) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns into pytest
        code = 0
        try:
            fn()
        except BaseException:
            code = 99
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# (name, target week, point latest, atomic exchange available)
SCENARIOS = {
    "rerun-same-week": (W2, True, True),
    "new-week": (W2, True, True),
    "rerun-same-week-fallback": (W2, True, False),
    "explicit-out": (None, False, True),
    "explicit-out-fallback": (None, False, False),
}


def _setup(folder: Path, scenario: str) -> tuple[Path, Path]:
    """The state before the run under test: (parent, target), target holding set v1."""
    week, latest, _ = SCENARIOS[scenario]
    root = folder / "output"
    if week is None:
        target = folder / "out"
        publish.publish_atomically(target, writer("v1"))
        return folder, target
    previous = W1 if scenario == "new-week" else W2
    publish.publish_atomically(root / previous.isoformat(), writer("v1"), point_latest=latest)
    return root, root / week.isoformat()


def _run(target: Path, scenario: str, kill_at=None) -> list[str]:
    _, latest, exchange = SCENARIOS[scenario]
    mp = pytest.MonkeyPatch()
    try:
        if not exchange:
            mp.setattr(publish, "_exchange", _no_exchange)
        calls = _instrument(mp, kill_at)
        publish.publish_atomically(target, writer("v2"), point_latest=latest)
    finally:
        mp.undo()
    return calls


def _assert_readable(parent: Path, target: Path, scenario: str, *, recovered: bool) -> None:
    """The target holds the complete old or new set; `latest` names a complete set."""
    _, latest, exchange = SCENARIOS[scenario]
    if scenario == "new-week":
        assert content(parent / W1.isoformat()) == "v1"
        if target.exists():
            assert content(target) == "v2"
    elif target.exists() or exchange or recovered:
        assert content(target) in {"v1", "v2"}  # with the exchange, the name never goes missing
    if latest:
        link = parent / "latest"
        assert link.is_symlink() and link.is_dir(), f"latest dangles: {os.readlink(link)}"
        assert content(link) in {"v1", "v2"}
        if recovered:
            assert not os.readlink(link).startswith(".")


def _kill_points(scenario: str, tmp_path: Path) -> list[tuple[int, str]]:
    _, target = _setup(tmp_path / "dry-run", scenario)
    n = len(_run(target, scenario))
    assert n >= 2
    return [(i, when) for i in range(n) for when in ("before", "after")]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_killed_at_any_step_leaves_old_or_new_set_and_next_start_repairs(tmp_path, scenario):
    for i, when in _kill_points(scenario, tmp_path):
        case = tmp_path / f"{i}-{when}"
        parent, target = _setup(case, scenario)
        code = _in_child(lambda t=target, k=(i, when): _run(t, scenario, k))
        assert code == KILLED, f"{scenario}: the child did not reach step {i} ({code})"
        where = f"{scenario}, killed {when} step {i}"
        try:
            _assert_readable(parent, target, scenario, recovered=False)
            publish.recover(target)  # what the next publish does first
            _assert_readable(parent, target, scenario, recovered=True)
            assert leftovers(parent) == []
            publish.publish_atomically(target, writer("v3"), point_latest=SCENARIOS[scenario][1])
            assert content(target) == "v3"
            assert leftovers(parent) == []
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from exc


def test_run_killed_while_writing_leaves_no_personal_data_after_next_start(tmp_path, caplog):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    code = _in_child(lambda: publish.publish_atomically(target, writer("v2", exit_after=2)))
    assert code == KILLED
    (stale,) = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert (stale / "candidates.csv").exists()  # what a killed run leaves
    assert content(target) == "v1"
    with caplog.at_level(logging.WARNING, logger="advocacy.pipelines.publish"):
        publish.publish_atomically(target, writer("v3"))
    assert content(target) == "v3"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert f"removed {stale}" in caplog.text


def test_stale_tmp_and_old_folders_are_removed_at_next_start(tmp_path, caplog):
    target = tmp_path / "out"
    publish.publish_atomically(target, writer("v1"))
    for name in (".out.tmp-0123abcd", ".out.old-89abcdef"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "candidates.csv").write_text("someone,private")
    (tmp_path / ".out-other.tmp-0123abcd").mkdir()  # another target's: not ours to touch
    with caplog.at_level(logging.WARNING, logger="advocacy.pipelines.publish"):
        publish.publish_atomically(target, writer("v2"))
    assert content(target) == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out-other.tmp-0123abcd", "out"]
    assert ".out.tmp-0123abcd" in caplog.text and ".out.old-89abcdef" in caplog.text


def test_missing_target_is_restored_from_old_folder_at_next_start(tmp_path, caplog):
    root = tmp_path / "output"
    target = root / W2.isoformat()
    publish.publish_atomically(target, writer("v1"), point_latest=True)
    old = root / f".{target.name}.old-0123abcd"
    os.rename(target, old)  # a crash between the two renames of the fallback switch
    with caplog.at_level(logging.WARNING, logger="advocacy.pipelines.publish"):
        assert publish.recover(target) == [old.name]
    assert content(target) == "v1"
    assert content(root / "latest") == "v1"
    assert f"restored {target} from {old}" in caplog.text
    assert leftovers(root) == []

    os.rename(target, old)  # again, and this time the next run fails while writing
    with pytest.raises(RuntimeError, match="disk full"):
        publish.publish_atomically(target, writer("v2", fail_after=1), point_latest=True)
    assert content(target) == "v1"
    assert sorted(p.name for p in root.iterdir()) == [target.name, "latest"]


def test_two_publishers_at_once_run_one_after_the_other(tmp_path):
    root = tmp_path / "output"
    target = root / W2.isoformat()
    publish.publish_atomically(target, writer("v0"), point_latest=True)
    start, inside = threading.Barrier(2), threading.Barrier(2)
    guard, active, peak, errors = threading.Lock(), [0], [0], []

    def slow_writer(tag):
        inner = writer(tag)

        def write(folder):
            with guard:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            try:
                # without a lock both writers meet here, and both swap at once
                with contextlib.suppress(threading.BrokenBarrierError):
                    inside.wait(timeout=0.3)
                inner(folder)
            finally:
                with guard:
                    active[0] -= 1

        return write

    def run(tag):
        try:
            start.wait()
            publish.publish_atomically(target, slow_writer(tag), point_latest=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert peak[0] == 1, "the two publishes overlapped"
    assert content(target) in {"a", "b"}
    assert content(root / "latest") == content(target)
    assert sorted(p.name for p in root.iterdir()) == [target.name, "latest"]


def _publish_loop(root: str, week: str, tag: str, start, active, peak, rounds: int) -> None:
    def write(folder):
        with active.get_lock():
            active.value += 1
            peak.value = max(peak.value, active.value)
        try:
            writer(tag)(folder)
        finally:
            with active.get_lock():
                active.value -= 1

    start.wait()
    for _ in range(rounds):
        publish.publish_atomically(Path(root) / week, write, point_latest=True)


def test_publishers_in_separate_processes_serialise(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # fresh processes, like two CLI runs
    root = tmp_path / "output"
    start = ctx.Barrier(3)
    active, peak = ctx.Value("i", 0), ctx.Value("i", 0)
    jobs = [("2026-11-23", "a"), ("2026-11-23", "b"), ("2026-11-16", "c")]
    procs = [
        ctx.Process(target=_publish_loop, args=(str(root), w, t, start, active, peak, 5))
        for w, t in jobs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert content(root / "2026-11-23") in {"a", "b"}
    assert content(root / "2026-11-16") == "c"
    assert content(root / "latest") in {"a", "b", "c"}
    assert sorted(p.name for p in root.iterdir()) == ["2026-11-16", "2026-11-23", "latest"]
    assert peak.value <= 2  # one per week at most: publishers of one week never overlap


@pytest.mark.parametrize("exchange", [True, False])
def test_a_target_folder_named_latest_does_not_lock_itself(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(publish, "_exchange", _no_exchange)
    target = tmp_path / "latest"
    for tag in ("v1", "v2"):
        publish.publish_atomically(target, writer(tag), lock_timeout=2)
    assert content(target) == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["latest"]


def test_a_publisher_that_never_lets_go_gives_a_clear_timeout(tmp_path):
    target = tmp_path / "out"
    busy = pytest.raises(publish.PublishBusyError, match="another publisher")
    with publish._locked(publish._lock_path(target), 1), busy:
        publish.publish_atomically(target, writer("v1"), lock_timeout=0.2)
    assert not target.exists()
    publish.publish_atomically(target, writer("v1"))
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
