"""Shared by the publishing tests: a writer of the four files, and readers of what landed."""

from __future__ import annotations

import json
import os
from pathlib import Path

NAMES = ("scores.parquet", "candidates.csv", "report.html", "run.json")


def writer(content: str, *, fail_after: int | None = None, exit_after: int | None = None):
    """Writes the four files, `run.json` last as a manifest (the mark of an earlier publish).

    `fail_after=i` raises before file i; `exit_after=i` kills the process there (os._exit).
    """

    def write(folder: Path) -> None:
        for i, name in enumerate(NAMES):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("disk full")
            if exit_after is not None and i == exit_after:
                os._exit(KILLED)
            body = f"{content}:{name}"
            if name == "run.json":
                body = json.dumps(
                    {"as_of": "2026-11-23", "generated_at": "now", "pipeline_version": "test",
                     "outputs": {}, "content": content}
                )  # fmt: skip
            (folder / name).write_text(body)

    return write


KILLED = 77


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def content(folder: Path) -> str:
    """Which writer produced the complete set in `folder` (fails on an incomplete one)."""
    got = snapshot(folder)
    assert sorted(got) == sorted(NAMES), f"incomplete set in {folder}: {sorted(got)}"
    tag = json.loads(got["run.json"])["content"]
    assert all(got[n] == f"{tag}:{n}".encode() for n in NAMES[:-1]), f"mixed set in {folder}"
    return tag


def leftovers(parent: Path) -> list[str]:
    """Hidden entries a publish leaves next to its targets (temp/old folders, locks, links)."""
    return sorted(p.name for p in Path(parent).iterdir() if p.name.startswith("."))
