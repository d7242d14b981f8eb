"""Publishing a run's files so that nothing is ever lost or half-visible (docs/outputs.md).

A publish into `target` (a folder `<parent>/<name>`):

1. refuses folders it must not replace (`check_target`, raising `UnsafeOutputError`);
2. takes an exclusive `fcntl.flock` on `<parent>/.<name>.lock`, so publishers into one place
   run one after the other; it is held to the end, then the lock file is removed;
3. repairs what an interrupted publish left (`recover`): restores `.<name>.old-*` when the
   target is missing, points `latest` back at the target, removes `.<name>.tmp-*`/`.old-*`;
4. runs `write(tmp)` into a fresh hidden sibling `.<name>.tmp-<tag>` and fsyncs it;
5. switches with one atomic step: a plain rename when the target does not exist, else Linux
   `renameat2(RENAME_EXCHANGE)`, which swaps the two names at once (the target name always
   holds the complete old set or the complete new set), then removes the old set;
6. with `point_latest`, moves the symlink `<parent>/latest` to the target (a fresh symlink
   renamed over the old one, under the lock `<parent>/.latest.link-lock`).

Where the exchange is unavailable (not Linux, old libc, or a filesystem answering EINVAL,
ENOSYS or EOPNOTSUPP, e.g. some network filesystems) the switch falls back to two renames,
target -> `.<name>.old-<tag>` and tmp -> target. Between them the target name is briefly
missing; `latest`, if it names the target, is moved to the new then the old set's hidden name
meanwhile, so it never dangles; an error restores the old set at once, and a crash is repaired
by the next publish (or `recover`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

from advocacy.data_contracts.profile import sha256_of

__all__ = [
    "PublishBusyError",
    "UnsafeOutputError",
    "check_target",
    "publish_atomically",
    "recover",
    "resolve_out_dir",
    "sha256_of",
]

log = logging.getLogger(__name__)

LATEST = "latest"
# A folder made by an earlier publish holds the run manifest with these keys
# (pipelines/outputs.py writes it last, after the other files, as `run.json`).
MARKER = "run.json"
MARKER_KEYS = ("as_of", "generated_at", "pipeline_version", "outputs")
_MARKER_MAX_BYTES = 64 * 2**20
# Never replace a folder that holds these, even one made by an earlier publish.
PROTECTED_ENTRIES = ("mlflow.db", "mlruns", "mlartifacts", ".git")
LOCK_TIMEOUT_S = 600.0

_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_TAG_LEN = 8


class UnsafeOutputError(ValueError):
    """The out folder is one a publish must not replace: a usage error (CLI exit 2)."""


class PublishBusyError(TimeoutError):
    """Another publisher held the out folder's lock for longer than the timeout."""


def resolve_out_dir(
    out_dir: str | Path | None, as_of: date, output_root: str | Path
) -> tuple[Path, bool]:
    """(folder to publish into, whether to point `<root>/latest` at it)."""
    if out_dir is not None:
        return Path(out_dir), False
    return Path(output_root) / as_of.isoformat(), True


def check_target(target: str | Path, *, protect: Iterable[str | Path] = ()) -> Path:
    """The absolute out folder, or `UnsafeOutputError` if publishing there could delete data.

    Refused: `/` (any filesystem root), the working folder, the home folder, the local MLflow
    store of MLFLOW_TRACKING_URI, any path in `protect`, or an ancestor of those; an existing
    non-folder, a mount point, a folder holding an MLflow store or `.git`, and a non-empty
    folder without the `run.json` manifest of an earlier publish. Call it early (before a
    long run) to fail fast; `publish_atomically` checks again.
    """
    path = Path(target).resolve()
    if path == Path(path.anchor):
        _refuse(path, "it is the filesystem root")
    guarded = [("the current working folder", _cwd()), ("the home folder", _home())]
    guarded.append(("the MLflow store", _mlflow_store()))
    guarded += [(str(Path(p).resolve()), Path(p).resolve()) for p in protect]
    for what, folder in guarded:
        if folder is None:
            continue
        if path == folder:
            _refuse(path, f"it is {what}")
        if path in folder.parents:
            _refuse(path, f"it contains {what} ({folder})")
    _check_contents(path)
    return path


def publish_atomically(
    target: str | Path,
    write: Callable[[Path], None],
    *,
    point_latest: bool = False,
    protect: Iterable[str | Path] = (),
    lock_timeout: float = LOCK_TIMEOUT_S,
) -> Path:
    """Run `write(tmp_dir)` and switch the finished folder into `target` in one atomic step.

    Returns the absolute target. On any failure the temporary folder is removed and `target`
    (and `latest`) are left as they were. Raises `UnsafeOutputError` before touching anything
    if `target` is a folder a publish must not replace (see `check_target`).
    """
    target = check_target(target, protect=protect)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(_lock_path(target), lock_timeout):
        _recover(target)
        _check_contents(target)  # again, under the lock: the folder may have changed
        tmp = target.parent / f".{target.name}.tmp-{_tag()}"
        tmp.mkdir()
        try:
            write(tmp)
            _fsync_tree(tmp)
            _swap_into_place(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        if point_latest:
            with _latest_locked(target.parent, lock_timeout):
                if _is_newest(target.parent, target.name):
                    _set_latest(target.parent, target.name)
    log.info("published %s", target)
    return target


def recover(target: str | Path, *, lock_timeout: float = LOCK_TIMEOUT_S) -> list[str]:
    """Repair what interrupted publishes into `target` left behind; the names it handled.

    Every publish does this first; call it directly to clean up without publishing.
    """
    target = Path(target).resolve()
    if not target.parent.is_dir():
        return []
    with _locked(_lock_path(target), lock_timeout):
        return _recover(target)


# ---------------------------------------------------------------- checks
def _refuse(path: Path, why: str) -> None:
    raise UnsafeOutputError(
        f"refusing to publish into {path}: {why}, and publishing replaces the whole folder; "
        "choose an empty or new folder"
    )


def _check_contents(path: Path) -> None:
    if not os.path.lexists(path):
        return
    if not path.is_dir():
        _refuse(path, "it exists and is not a folder")
    if os.path.ismount(path):
        _refuse(path, "it is a mount point")
    entries = os.listdir(path)
    if not entries:
        return
    protected = sorted(set(entries) & set(PROTECTED_ENTRIES))
    if protected:
        _refuse(path, f"it holds {', '.join(protected)}")
    if not _is_earlier_publish(path):
        _refuse(path, f"it is not empty and has no {MARKER} from an earlier publish")


def _is_earlier_publish(path: Path) -> bool:
    marker = path / MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > _MARKER_MAX_BYTES:
            return False
        manifest = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and all(k in manifest for k in MARKER_KEYS)


def _cwd() -> Path | None:
    try:
        return Path.cwd().resolve()
    except OSError:
        return None


def _mlflow_store() -> Path | None:
    """The local MLflow store named by MLFLOW_TRACKING_URI (`sqlite:///…`, `file:…`, a path)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    for prefix in ("sqlite:///", "file://", "file:"):
        if uri.startswith(prefix):
            uri = uri[len(prefix) :]
            break
    else:
        if not uri or "://" in uri:
            return None
    return Path(uri).resolve() if uri else None


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):
        return None


# ---------------------------------------------------------------- locking
def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _latest_lock_path(parent: Path) -> Path:
    """Not `.latest.lock`: that is the lock of a target folder named `latest`."""
    return parent / f".{LATEST}.link-lock"


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive flock on the file `path`, created for the purpose and removed on release.

    The kernel drops the lock when the process dies. The holder unlinks the file before
    letting go, so a waiter may wake up holding a lock on a file that no longer has that
    name: it checks the name still leads to its file, and tries again if not.
    """
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            _flock(fd, path, deadline, timeout)
            mine = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _flock(fd: int, path: Path, deadline: float, timeout: float) -> None:
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if delay == 0.005:
                log.info("waiting for another publisher (lock %s)", path)
            if time.monotonic() >= deadline:
                raise PublishBusyError(
                    f"another publisher has held {path} for over {timeout:.0f} s"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


@contextlib.contextmanager
def _latest_locked(parent: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """The lock on `<parent>/latest`; removes symlinks an interrupted switch left."""
    with _locked(_latest_lock_path(parent), timeout):
        for entry in os.scandir(parent):
            if _leftover(LATEST, "tmp").fullmatch(entry.name) and entry.is_symlink():
                os.unlink(entry.path)
                log.warning("removed %s, left by an interrupted publish", entry.path)
        yield


# ---------------------------------------------------------------- recovery
def _leftover(name: str, kind: str) -> re.Pattern[str]:
    """`.<name>.tmp-<tag>` / `.<name>.old-<tag>`: the hidden siblings a publish makes."""
    return re.compile(rf"\.{re.escape(name)}\.{kind}-[0-9a-f]{{{_TAG_LEN}}}")


def _recover(target: Path) -> list[str]:
    """Under the target's lock: restore a missing target, fix `latest`, drop leftovers."""
    parent = target.parent
    is_tmp, is_old = _leftover(target.name, "tmp"), _leftover(target.name, "old")
    tmps = [parent / n for n in os.listdir(parent) if is_tmp.fullmatch(n)]
    olds = [parent / n for n in os.listdir(parent) if is_old.fullmatch(n)]
    handled = [p.name for p in tmps + olds]
    link = parent / LATEST

    def latest_is_ours() -> bool:
        name = os.readlink(link) if link.is_symlink() else ""
        return bool(is_tmp.fullmatch(name) or is_old.fullmatch(name))

    if not os.path.lexists(target):
        # Prefer the previous set; else the complete set `latest` points at (fallback switch).
        candidates = sorted((p for p in olds if p.is_dir()), key=lambda p: p.stat().st_mtime)
        if not candidates and latest_is_ours() and (parent / os.readlink(link)).is_dir():
            candidates = [parent / os.readlink(link)]
        if candidates:
            source = candidates[-1]
            _rename(source, target)
            (olds if source in olds else tmps).remove(source)
            log.warning("restored %s from %s, left by an interrupted publish", target, source)
    strays = any(_leftover(LATEST, "tmp").fullmatch(n) for n in os.listdir(parent))
    strays |= os.path.lexists(_latest_lock_path(parent))  # a killed run's lock file
    if latest_is_ours() or strays:
        with _latest_locked(parent):  # removes stray `.latest.tmp-*` links and the lock file
            if latest_is_ours() and target.is_dir():
                _set_latest(parent, target.name)
                log.warning("pointed %s back at %s after an interrupted publish", link, target)
    for stale in tmps + olds:
        if os.path.lexists(stale):
            _remove(stale)
            log.warning("removed %s, left by an interrupted publish", stale)
    return handled


# ---------------------------------------------------------------- the switch
def _swap_into_place(tmp: Path, target: Path) -> None:
    if not os.path.lexists(target):
        _rename(tmp, target)
        _fsync_dir(target.parent)
        return
    try:
        _exchange(tmp, target)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        log.info("no atomic exchange here (%s); switching %s with two renames", exc, target)
        _swap_by_renames(tmp, target)
        return
    _fsync_dir(target.parent)
    _remove(tmp)  # now holds the previous set


def _swap_by_renames(tmp: Path, target: Path) -> None:
    """Fallback switch. `latest`, if it names the target, always names a complete set."""
    parent = target.parent
    old = parent / f".{target.name}.old-{_tag()}"
    with _latest_locked(parent):
        link = parent / LATEST
        via_latest = link.is_symlink() and os.readlink(link) == target.name
        if via_latest:
            _set_latest(parent, tmp.name)  # the new set, while the target name moves away
        try:
            _rename(target, old)
        except BaseException:
            if via_latest:
                _set_latest(parent, target.name)
            raise
        try:
            if via_latest:
                _set_latest(parent, old.name)  # the old set, while tmp moves to the target name
            _rename(tmp, target)
        except BaseException:
            if not os.path.lexists(target):
                _rename(old, target)  # put the previous outputs back
            if via_latest:
                _set_latest(parent, target.name)
            raise
        if via_latest:
            _set_latest(parent, target.name)
    _fsync_dir(parent)
    _remove(old)


def _is_newest(parent: Path, name: str) -> bool:
    """A backfill of an older week must not move `latest` back (weeks are ISO dates)."""
    link = parent / LATEST
    if not link.is_symlink() or not (parent / os.readlink(link)).is_dir():
        return True
    return os.readlink(link) <= name


def _set_latest(parent: Path, name: str) -> None:
    """Point `<parent>/latest` at `name`: a fresh symlink renamed over the old one."""
    tmp_link = parent / f".{LATEST}.tmp-{_tag()}"
    _symlink(name, tmp_link)
    try:
        _replace(tmp_link, parent / LATEST)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_link)
        raise


# ---------------------------------------------------------------- primitives
# Every step that changes the parent folder goes through one of these five functions, so the
# tests can stop a publish at each of them.
def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # libc without renameat2 (glibc < 2.28)
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def _exchange(a: Path, b: Path) -> None:
    """Swap the names `a` and `b` atomically (Linux renameat2 with RENAME_EXCHANGE)."""
    if _renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a), None, str(b))
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def _rename(src: Path, dst: Path) -> None:
    os.rename(src, dst)


def _symlink(name: str, link: Path) -> None:
    os.symlink(name, link)


def _replace(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if os.path.lexists(path):
        log.warning("could not remove %s; the next publish will retry", path)


def _tag() -> str:
    return uuid.uuid4().hex[:_TAG_LEN]


def _fsync_tree(folder: Path) -> None:
    """Flush the new files to disk before they become visible (a power cut keeps them whole)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            _fsync(os.path.join(root, name), os.O_RDONLY)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    _fsync(folder, os.O_RDONLY | os.O_DIRECTORY)


def _fsync(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    finally:
        os.close(fd)
