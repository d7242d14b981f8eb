"""Turn any failure into (exit code, one clear line, optional detail) for the CLI.

Exit codes (README "The command line"): 0 success; 1 a data contract failed or the data folder
cannot be used; 2 a usage or configuration error (bad settings file, an out folder a publish
must not replace); 3 anything else, with the project's innermost frame named.

The exception classes are looked up by module and name, and only in modules already imported:
an exception can only be an instance of a class whose module is loaded, so this never imports
the (slow) flows just to classify an error, and works whichever of these classes exist.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import advocacy

# The one definition of the exit codes; `advocacy.pipelines.cli` returns these.
EXIT_OK, EXIT_CONTRACT, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3

# (module, class name) -> exit code; the message of these is already one clear line.
_KNOWN: dict[tuple[str, str], int] = {
    ("advocacy.pipelines.job", "ContractError"): EXIT_CONTRACT,
    ("advocacy.data_contracts.load", "DataFolderError"): EXIT_CONTRACT,
    ("advocacy.settings", "SettingsError"): EXIT_USAGE,
    ("advocacy.pipelines.publish", "UnsafeOutputError"): EXIT_USAGE,
    ("advocacy.pipelines.runtime", "PrefectStartError"): EXIT_FAILURE,
    ("advocacy.pipelines.runtime", "RuntimeConfigError"): EXIT_USAGE,
    (
        "advocacy.models.train",
        "TrainingRowsError",
    ): EXIT_CONTRACT,  # the data cannot support training
    ("advocacy.models.tracking", "RegistryError"): EXIT_FAILURE,  # store missing/empty, no champion
    ("advocacy.models.registry_lock", "RegistryBusyError"): EXIT_FAILURE,
    ("advocacy.pipelines.publish", "PublishBusyError"): EXIT_FAILURE,
}
MAX_LINE = 400

# The project's packages: frames in files under these folders are "ours" (see `_where`).
REPO_ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("pipelines", "features", "models", "policy", "data_contracts", "synthetic")
# ... and the root package's own folder (`advocacy/settings.py`): in a wheel install that is
# the parent of all of them, in the repository the small `advocacy/` folder beside them.
_PACKAGE_DIRS = (
    *(REPO_ROOT / name for name in OUR_PACKAGES),
    Path(advocacy.__file__).resolve().parent,
)


def _known_class(exc: BaseException) -> tuple[str, int] | None:
    """(class name, exit code) when `exc` is one of the classes in `_KNOWN`."""
    for (module, name), code in _KNOWN.items():
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return name, code
    return None


def describe(exc: BaseException) -> tuple[int, str, str | None]:
    known = _known_class(exc)
    if known is not None:
        name, code = known
        if name == "ContractError":
            report = getattr(exc, "report", None)
            return code, one_line(str(exc)), report.to_text() if report is not None else None
        if name == "SettingsError":
            return code, _settings_line(exc), None
        return code, one_line(str(exc)), None
    text = one_line(str(exc))
    head = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return EXIT_FAILURE, f"{head} (at {_where(exc)})", None


def one_line(text: str) -> str:
    """The first non-empty line of a message, at most `MAX_LINE` characters."""
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return first if len(first) <= MAX_LINE else first[: MAX_LINE - 3] + "..."


def _settings_line(exc: BaseException) -> str:
    """`<file>: <problem>; <problem>` - SettingsError keeps one line per problem."""
    problems = getattr(exc, "problems", None)
    source = getattr(exc, "source", None)
    if problems and source:
        return one_line(f"{source}: " + "; ".join(str(p) for p in problems))
    return one_line("; ".join(line.strip() for line in str(exc).splitlines() if line.strip()))


def is_ours(filename: str) -> bool:
    """True for a file inside one of this repository's package folders (not site-packages)."""
    try:
        path = Path(filename).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(path.is_relative_to(folder) for folder in _PACKAGE_DIRS)


def _where(exc: BaseException) -> str:
    """The innermost frame that belongs to this project, e.g. 'models/train.py:88 in fit_target'."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if is_ours(f.filename)] or frames
    if not ours:
        return "unknown"
    f = ours[-1]
    path = Path(f.filename)
    try:
        short = path.resolve().relative_to(REPO_ROOT).as_posix()
    except (OSError, ValueError):
        short = "/".join(path.parts[-2:])
    return f"{short}:{f.lineno} in {f.name}"


# ------------------------------------------------------------------ retries
# Errors that cannot go away by waiting: a retry only costs time (12 s with the flows' delays).
PERMANENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,  # disk full
        errno.EDQUOT,  # quota exceeded
        errno.EROFS,  # read-only filesystem
        errno.EACCES,  # permission denied
        errno.EPERM,  # operation not permitted
        errno.ENOENT,  # no such file
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
    }
)
PERMANENT_TYPES: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
# Timed out waiting for another run's lock already (for minutes): not retried either.
BUSY_AFTER_WAITING = ("PublishBusyError", "RegistryBusyError")
_TRANSIENT_NAMES = ("Timeout", "ConnectionError", "ConnectError", "NetworkError")
_LOCKED = ("database is locked", "database table is locked", "database is busy")


def _chain(exc: BaseException, limit: int = 8) -> Iterator[BaseException]:
    """`exc`, then what it wraps: __cause__, __context__, and SQLAlchemy's `.orig`."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < limit:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for inner in (e.__cause__, e.__context__, getattr(e, "orig", None)):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _permanent(e: BaseException) -> bool:
    if type(e).__name__ in BUSY_AFTER_WAITING:
        return True
    if isinstance(e, PERMANENT_TYPES):
        return True
    return isinstance(e, OSError) and e.errno in PERMANENT_ERRNOS


def _transient_one(e: BaseException) -> bool:
    if isinstance(e, (TimeoutError, ConnectionError)):
        return True
    if isinstance(e, sqlite3.OperationalError) or type(e).__name__ == "OperationalError":
        return any(k in str(e).lower() for k in _LOCKED)
    if any(k in type(e).__name__ for k in _TRANSIENT_NAMES):
        return True  # httpx/requests/urllib3 time-outs and connection errors
    if isinstance(e, OSError):
        # An errno set by the OS (EIO, EAGAIN, EBUSY, ESTALE, ECONNRESET ...) may clear up;
        # an OSError without one is a library's verdict on a file (e.g. a corrupt Parquet).
        return e.errno is not None
    return any(k in str(e).lower() for k in _LOCKED)  # e.g. MlflowException over SQLite


def is_transient(exc: BaseException) -> bool:
    """True when retrying may help: time-outs, connection errors, `database is locked`, other
    OS errors with an errno. False when anything in the chain cannot go away: ENOSPC, EROFS,
    EACCES, EPERM, ENOENT, a missing file or folder, a lock that stayed busy for minutes."""
    chain = list(_chain(exc))
    if any(_permanent(e) for e in chain):
        return False
    return any(_transient_one(e) for e in chain)
