"""How the `advocacy` process starts and stops: environment, logging, signals, Prefect's server.

Order matters. Prefect reads its settings from the environment once, when `prefect` is first
imported, so `prepare_environment` and `apply_settings` run before anything imports it; every
variable is set with `setdefault`, so a value the user exported wins.

* **Start-up.** With `PREFECT_API_URL` unset, Prefect starts a temporary API server as a child
  process and waits `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS` for it (Prefect's default
  is 20 s; on a busy 2-core machine a first start takes 25-45 s). `apply_settings` sets it from
  `prefect.startup_timeout_seconds` (180 s). `start_prefect` starts the server before the flow
  runs, tries once more after a time-out (saying so on stderr), and otherwise raises
  `PrefectStartError` with one line saying what to do. With `PREFECT_API_URL` set, it only
  checks that the server answers.
* **Logs.** The project's loggers (`PROJECT_LOGGERS`) go to Prefect's run logs (the Logs tab):
  `PREFECT_LOGGING_EXTRA_LOGGERS` makes Prefect attach its API handler to them in every process
  that imports Prefect (also the runs `advocacy serve` starts), and `route_project_logs` (called
  by each flow) sets them to INFO and attaches the handler if Prefect was imported earlier. The
  terminal shows warnings only, or progress with `-v`.
* **Signals.** SIGTERM and SIGHUP raise `Terminated` (a `SystemExit`), so the flow is marked
  crashed and the interpreter exits normally: Prefect's `atexit` hook then stops the temporary
  server, which would otherwise outlive the run. SIGINT raises `KeyboardInterrupt` as usual.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_LOGGERS = ("advocacy",)
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
EXTRA_LOGGERS_ENV = "PREFECT_LOGGING_EXTRA_LOGGERS"
HANDLED_SIGNALS = ("SIGTERM", "SIGHUP")
NOISY_LOGGERS = ("alembic", "mlflow", "httpx", "httpcore", "great_expectations", "urllib3")


class PrefectStartError(RuntimeError):
    """Prefect's API could not be reached or started; the message says what to do (exit 3)."""


class RuntimeConfigError(ValueError):
    """An environment variable the start-up reads has an unusable value (exit 2)."""


class Terminated(SystemExit):
    """The process received SIGTERM or SIGHUP; exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.signal_name = signal.Signals(signum).name


# ------------------------------------------------------------------ environment
def prepare_environment(verbose: bool) -> None:
    """Quiet, private defaults for the libraries; call before Prefect or MLflow is imported."""
    _disable_telemetry()
    defaults = {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Prefect's own loggers at INFO so its run/task lines reach the Logs tab; the console
        # handler decides what the terminal shows.
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO" if verbose else "CRITICAL",
        # Our loggers also log outside flows (validate, generate): no warning for that.
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "MLFLOW_LOGGING_LEVEL": "INFO" if verbose else "ERROR",
        # Logging a model from code downloads its artifacts back to validate the input example:
        # a progress bar per file on stderr, which batch logs do not want.
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "GIT_PYTHON_REFRESH": "quiet",
        # Idle OpenMP threads sleep instead of spinning: on a busy 2-core box two spinning
        # LightGBM threads made one fit 6-10x slower (docs/benchmarks.md).
        "OMP_WAIT_POLICY": "PASSIVE",
        "MPLBACKEND": "Agg",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    extra = [n.strip() for n in os.environ.get(EXTRA_LOGGERS_ENV, "").split(",") if n.strip()]
    os.environ[EXTRA_LOGGERS_ENV] = ",".join(dict.fromkeys([*extra, *PROJECT_LOGGERS]))


def _disable_telemetry() -> None:
    """MLflow telemetry and Prefect client analytics off unless the user opted in."""
    try:
        from advocacy.models.telemetry import disable_telemetry
    except ImportError:  # pragma: no cover - older tree without models/telemetry.py
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        return
    disable_telemetry()


def check_spark_available() -> None:
    """`--engine spark` needs the spark extra and a Java runtime: say so before any work."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("sqlglot") is None:
        raise RuntimeConfigError(
            "--engine spark needs pyspark and sqlglot: pip install 'advocacy-pipeline[spark]' "
            "(docs/scale-out.md)"
        )
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise RuntimeConfigError("--engine spark needs Java 17+: set JAVA_HOME or put java on PATH")


_FROM_SETTINGS = f"prefect.startup_timeout_seconds in the settings or {STARTUP_TIMEOUT_ENV}"
_timeout_hint = _FROM_SETTINGS  # what the time-out message tells the user to raise


def apply_settings(settings: Any) -> int:
    """Set Prefect's start-up timeout from the settings (an exported value wins); return it."""
    global _timeout_hint
    exported = STARTUP_TIMEOUT_ENV in os.environ
    _timeout_hint = (
        f"{STARTUP_TIMEOUT_ENV} (set in the environment)" if exported else _FROM_SETTINGS
    )
    os.environ.setdefault(STARTUP_TIMEOUT_ENV, str(settings.prefect.startup_timeout_seconds))
    return startup_timeout()


def startup_timeout() -> int:
    """The start-up timeout in effect, in whole seconds (>= 1)."""
    text = os.environ.get(STARTUP_TIMEOUT_ENV, "").strip()
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise RuntimeConfigError(
            f"{STARTUP_TIMEOUT_ENV} must be a whole number of seconds >= 1 (got {text!r})"
        )
    return seconds


def data_docs_dir(settings: Any) -> Path:
    """Where a run writes GX Data Docs: `validation.data_docs_dir` when the user changed it,
    else `<output_root>/validation` (not the folder the run happens to start from)."""
    from advocacy.settings import ValidationSettings

    configured = settings.validation.data_docs_dir
    default = ValidationSettings.model_fields["data_docs_dir"].default
    if configured and configured != default:
        return Path(configured)
    return Path(settings.output_root) / "validation"


# ------------------------------------------------------------------ logging
class CliConsoleHandler(logging.StreamHandler):
    """The terminal handler of `advocacy` (Prefect keeps it: its name has no leading `_`).

    Writes to whatever `sys.stderr` is at the time, so a replaced stream (tests, notebooks)
    never leaves it writing to a closed file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _ours(record: logging.LogRecord) -> bool:
    """Without -v the terminal shows only the project's warnings: libraries (Prefect's failure
    tracebacks, its services' exit notes) stay off it; the CLI says what failed in one line."""
    return record.name.split(".", 1)[0] in PROJECT_LOGGERS


def configure_logging(verbose: bool) -> None:
    """Terminal: warnings only (progress with -v). Prefect's run logs: see `route_project_logs`."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, CliConsoleHandler)]:
        root.removeHandler(old)
    handler = CliConsoleHandler()
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_ours)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Library warnings are log records: shown with -v, otherwise kept off the terminal.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def route_project_logs() -> None:
    """Send the project's INFO+ log lines to Prefect's run logs (idempotent, any process).

    `PREFECT_LOGGING_EXTRA_LOGGERS` only works when set before Prefect is imported; this also
    covers a process that imported Prefect first (tests, notebooks) and the runs that
    `advocacy serve` starts, whose loggers would otherwise inherit the root's WARNING level.
    """
    from prefect.logging.handlers import APILogHandler

    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        if not any(isinstance(h, APILogHandler) for h in logger.handlers):
            logger.addHandler(APILogHandler())
        for handler in logger.handlers:
            if isinstance(handler, APILogHandler) and _in_a_run not in handler.filters:
                handler.addFilter(_in_a_run)


def _in_a_run(record: logging.LogRecord) -> bool:
    """Only records logged inside a flow or task run go to the API (no warning otherwise)."""
    if getattr(record, "flow_run_id", None):
        return True
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


# ------------------------------------------------------------------ signals
_stopping = False
_started_server = False  # this process started Prefect's temporary server (start_prefect)
_stop_signal: Terminated | None = None  # the SIGTERM/SIGHUP received inside the command


def _raise_terminated(signum: int, frame: Any) -> None:
    global _stopping
    if _stopping:  # already shutting down (stopping the server): let it finish
        return
    _stopping = True
    raise Terminated(signum)


def stopped_by() -> Terminated | None:
    """The signal that stopped this command, when a library turned it into its own error.

    DuckDB, for one, answers the exception raised in the middle of a query with
    `RuntimeError: Query interrupted`; the command must still exit 128 + N.
    """
    return _stop_signal


def raise_if_stopped() -> None:
    """Stop at a stage boundary if a SIGTERM/SIGHUP arrived and a library swallowed it."""
    if _stop_signal is not None:
        raise _stop_signal


def _remember(signum: int, frame: Any) -> None:
    global _stop_signal
    if _stop_signal is None:
        _stop_signal = Terminated(signum)
    _raise_terminated(signum, frame)


def _stop_server_and_exit(signum: int, frame: Any) -> None:
    """A signal after the command finished (exit under way): stop the server, exit now."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(Exception):
        stop_prefect()
    os._exit(128 + signum)


@contextlib.contextmanager
def signals_raise_exit() -> Iterator[None]:
    """While inside, SIGTERM/SIGHUP raise `Terminated` so clean-up (and `atexit`) runs.

    On leaving, the previous handlers come back; but if this process started Prefect's
    temporary server, a later SIGTERM/SIGHUP (while the interpreter exits and Prefect drains
    its logs) stops the server and exits at once instead of leaving it behind.
    """
    global _stopping, _stop_signal
    _stopping, _stop_signal = False, None
    previous: dict[signal.Signals, Any] = {}
    for name in HANDLED_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, _remember)
        except ValueError:  # not the main thread: leave the signals alone
            break
    try:
        yield
    finally:
        _stop_signal = None  # a later command in this process starts clean
        for sig, handler in previous.items():
            signal.signal(sig, _stop_server_and_exit if _started_server else handler)


# ------------------------------------------------------------------ Prefect
def start_prefect(timeout: int | None = None) -> str:
    """Make sure a Prefect API is there before a flow runs; return its URL.

    With `PREFECT_API_URL` set: check that it answers. Otherwise start Prefect's temporary
    server (the flows then use it) and, after a time-out, try exactly once more.
    """
    global _started_server
    from prefect.settings import get_current_settings

    current = get_current_settings()
    url = current.api.url
    if url:
        _check_reachable(url)
        return url
    if not current.server.ephemeral.enabled:
        raise PrefectStartError(
            "PREFECT_API_URL is not set and Prefect's temporary server is turned off "
            "(PREFECT_SERVER_EPHEMERAL_ENABLED): set PREFECT_API_URL to a running Prefect server"
        )
    from prefect.server.api.server import SubprocessASGIServer

    seconds = timeout or startup_timeout()
    for attempt in (1, 2):
        server = SubprocessASGIServer()
        if server.running:
            return server.api_url
        started = time.monotonic()
        try:
            server.start(timeout=seconds)
        except RuntimeError as exc:
            server.stop()  # the child may still be starting: do not leave it behind
            if "Timed out" not in str(exc):
                raise PrefectStartError(_start_failed(exc)) from None
            if attempt == 1:
                sys.stderr.write(
                    f"advocacy: Prefect's temporary server did not start within {seconds} s; "
                    "trying once more\n"
                )
                sys.stderr.flush()
                continue
        else:
            _started_server = True
            log.info(
                "Prefect temporary server up at %s after %.1f s (attempt %d)",
                server.api_url,
                time.monotonic() - started,
                attempt,
            )
            return server.api_url
    raise PrefectStartError(
        f"Prefect's temporary server did not start within {seconds} s (tried twice): raise "
        f"{_timeout_hint}, or set PREFECT_API_URL to a running Prefect server "
        "(`prefect server start`)"
    )


def _start_failed(exc: BaseException) -> str:
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return (
        f"Prefect's temporary server failed to start ({first[:200]}); set PREFECT_API_URL to a "
        "running Prefect server (`prefect server start`), or run with -v for details"
    )


def _check_reachable(url: str) -> None:
    import httpx

    try:
        with httpx.Client(timeout=15) as client:
            client.get(f"{url.rstrip('/')}/health")
    except httpx.HTTPError as exc:
        reason = next((line for line in str(exc).splitlines() if line.strip()), "")
        reason = reason or type(exc).__name__
        raise PrefectStartError(
            f"cannot reach the Prefect server at PREFECT_API_URL={url} ({reason}): start it "
            "(`prefect server start`), or unset PREFECT_API_URL to use a temporary local one"
        ) from None


def stop_prefect() -> None:
    """Stop the temporary server now if this process started one (else Prefect's atexit does)."""
    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is None:
        return
    for server in list(server_module.SubprocessASGIServer._instances.values()):
        server.stop()
