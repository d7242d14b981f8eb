"""Turn any failure into (exit code, one clear line, optional detail) for the CLI."""

from __future__ import annotations

import traceback

from data_contracts.load import DataFolderError

EXIT_CONTRACT, EXIT_FAILURE = 1, 3


def describe(exc: BaseException) -> tuple[int, str, str | None]:
    from pipelines.flows import ContractError

    if isinstance(exc, ContractError):
        return EXIT_CONTRACT, str(exc), exc.report.to_text()
    if isinstance(exc, DataFolderError):
        return EXIT_CONTRACT, str(exc), None
    return EXIT_FAILURE, f"{type(exc).__name__}: {exc} (at {_where(exc)})", None


def _where(exc: BaseException) -> str:
    """The innermost frame that belongs to this project, e.g. 'models/train.py:88 in fit_target'."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if any(p in f.filename for p in _OUR_PACKAGES)] or frames
    if not ours:
        return "unknown"
    f = ours[-1]
    short = "/".join(f.filename.split("/")[-2:])
    return f"{short}:{f.lineno} in {f.name}"


_OUR_PACKAGES = ("/pipelines/", "/features/", "/models/", "/data_contracts/", "/synthetic/")
