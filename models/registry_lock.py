"""One writer at a time for a local SQLite registry: an `fcntl.flock` file beside the database.

`registry_lock(uri, timeout)` is a context manager. For `sqlite:///path/mlflow.db` it holds an
exclusive `flock` on `path/mlflow.db.lock` (created when missing) and yields True; for any other
tracking URI (a server, a remote database) it holds nothing and yields False, and the caller
falls back to compare-and-set on the alias.

- `flock` locks belong to an open file description, so two threads of one process exclude each
  other as two processes do; the lock is released by the kernel when its holder dies (a killed
  run never leaves the registry locked).
- Re-entrant per thread: a nested `registry_lock` on the same file inside one thread is a no-op.
- The holder writes `pid host` into the file, so a timeout names who holds it.
- Not for network file systems whose `flock` is not shared between machines.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

SQLITE_PREFIX = "sqlite:///"
LOCK_SUFFIX = ".lock"
POLL_SECONDS = 0.05

_held = threading.local()


class RegistryBusyError(TimeoutError):
    """Another run held the registry lock for longer than `tracking.lock_timeout_seconds`."""


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working folder), else None."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    raw = unquote(uri[len(SQLITE_PREFIX) :].split("?", 1)[0])
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


def lock_path(uri: str) -> Path | None:
    db = sqlite_path(uri)
    return None if db is None else db.with_name(db.name + LOCK_SUFFIX)


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextmanager
def registry_lock(uri: str, timeout: float) -> Iterator[bool]:
    """Hold the registry lock of `uri` (True), or nothing for non-SQLite stores (False)."""
    path = lock_path(uri)
    if path is None:
        yield False
        return
    key = str(path.resolve())
    held: set[str] = getattr(_held, "paths", None) or set()
    _held.paths = held
    if key in held:  # re-entrant within one thread
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RegistryBusyError(
                        f"the MLflow registry lock {path} is held by {_holder(path)} for more "
                        f"than {timeout:g} s (tracking.lock_timeout_seconds); wait for that run "
                        "or check that it is alive"
                    ) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        held.add(key)
        try:
            yield True
        finally:
            held.discard(key)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
