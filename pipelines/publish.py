"""Atomic publishing of a run's files (outputs.md, "The out folder").

Files are written into a hidden temporary sibling of the target folder and moved into
place only when all are complete, so readers never see a half-written folder and a
failed run leaves whatever the target held before untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

from data_contracts.profile import sha256_of

__all__ = ["publish_atomically", "resolve_out_dir", "sha256_of"]

log = logging.getLogger(__name__)

LATEST = "latest"


def resolve_out_dir(
    out_dir: str | Path | None, as_of: date, output_root: str | Path
) -> tuple[Path, bool]:
    """(folder to publish into, whether to point `<root>/latest` at it)."""
    if out_dir is not None:
        return Path(out_dir), False
    return Path(output_root) / as_of.isoformat(), True


def publish_atomically(
    target: Path, write: Callable[[Path], None], *, point_latest: bool = False
) -> Path:
    """Run `write(tmp_dir)` and swap the finished folder into `target`.

    On any failure the temporary folder is removed and `target` is left as it was.
    """
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = target.parent / f".{target.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        write(tmp)
        _swap_into_place(tmp, target, tag)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if point_latest:
        _point_latest(target)
    log.info("published %s", target)
    return target


def _swap_into_place(tmp: Path, target: Path, tag: str) -> None:
    if not target.exists():
        os.rename(tmp, target)
        return
    old = target.parent / f".{target.name}.old-{tag}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)  # put the previous outputs back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _point_latest(target: Path) -> None:
    """Point `<root>/latest` at `target` with an atomic rename of a fresh symlink."""
    link = target.parent / LATEST
    tmp_link = target.parent / f".{LATEST}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(target.name, tmp_link)
    os.replace(tmp_link, link)
