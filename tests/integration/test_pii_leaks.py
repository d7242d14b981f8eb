"""No e-mail and no full name of the world's contacts ends up in MLflow or in Prefect's database.

The real weekly flow runs on the shared generated world under the real Prefect test harness
with a temp MLflow store. Then every file of the MLflow store (SQLite bytes, every cell of every
table, every artifact) and every text cell of the Prefect database (artifacts, logs, states,
parameters, events) is searched for every contact's e-mail and full name, case-insensitively,
also after undoing JSON `\\uXXXX` and HTML escapes and inside Parquet/gzip/zip files.
The same scanner must find the names in the published candidates.csv and report.html, which
proves it looks.
"""

from __future__ import annotations

import gzip
import html
import io
import json
import logging
import re
import sqlite3
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from tests.worlds import rewrite_table

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

PROJECT_LOGGERS = ("prefect", "pipelines", "models", "features", "data_contracts")


class Needles:
    """Finds any of many literal strings in a text at once (a trie-shaped regex)."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = {w.strip().lower() for w in words if isinstance(w, str) and w.strip()}
        self._re = re.compile(self._trie(sorted(self.words)))

    @classmethod
    def _trie(cls, words: list[str]) -> str:
        trie: dict = {}
        for word in words:
            node = trie
            for ch in word:
                node = node.setdefault(ch, {})
            node[""] = {}
        return cls._pattern(trie)

    @classmethod
    def _pattern(cls, node: dict) -> str:
        ends = "" in node
        branches = [re.escape(ch) + cls._pattern(child) for ch, child in node.items() if ch]
        if not branches:
            return ""
        body = "(?:" + "|".join(branches) + ")"
        return body + "?" if ends else body  # greedy: the longest word wins

    def find(self, text: str) -> set[str]:
        return {m.group(0) for m in self._re.finditer(text.lower())}


def _views(data: bytes) -> Iterator[str]:
    """The texts a byte string may hold: raw, unescaped, and inside containers."""
    if data.startswith(b"PAR1"):
        import pyarrow.parquet as pq

        yield pq.read_table(io.BytesIO(data)).to_pandas().to_csv()
    elif data.startswith(b"\x1f\x8b"):
        yield from _views(gzip.decompress(data))
    elif data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                yield from _views(zf.read(name))
    text = data.decode("utf-8", "ignore")
    yield text
    if "\\u" in text:
        yield re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    if "&" in text:
        yield html.unescape(text)


def _sqlite_cells(path: Path) -> str:
    """Every cell of every table as text (long values are split over pages in the file)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        parts = []
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for v in row:
                    if isinstance(v, bytes):
                        parts += list(_views(v))
                    elif v is not None:
                        parts.append(str(v))
        return "\n".join(parts)
    finally:
        con.close()


def scan(paths: Iterable[Path], needles: Needles) -> dict[str, set[str]]:
    """{file: needles found}; SQLite databases are read cell by cell as well as byte by byte."""
    found: dict[str, set[str]] = {}
    for path in paths:
        data = path.read_bytes()
        texts = list(_views(data))
        if data.startswith(b"SQLite format 3\x00"):
            texts.append(_sqlite_cells(path))
        hits = set().union(*(needles.find(t) for t in texts))
        if hits:
            found[str(path)] = hits
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite"), f"the harness should use SQLite, got {url}"
    return Path(url.split(":///", 1)[1].split("?", 1)[0])


@contextmanager
def _info_logging() -> Iterator[None]:
    """INFO for Prefect's and the project's loggers during the run, so their lines are scanned."""
    loggers = [logging.getLogger(n) for n in PROJECT_LOGGERS]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)


@pytest.fixture(scope="module")
def people(world_dir) -> dict[str, set[str]]:
    contacts = pd.read_parquet(world_dir / "contacts.parquet", columns=["full_name", "email"])
    return {c: set(contacts[c].dropna()) for c in ("full_name", "email")}


def test_no_email_or_name_in_mlflow_or_prefect(
    world_dir, as_of, people, mlflow_store, prefect_harness, tmp_path_factory
):
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    from advocacy.pipelines.flows import weekly_flow
    from advocacy.pipelines.job import ContractError

    # a contract failure whose examples quote e-mails and names ("jdoe@x.com Jane Doe")
    bad = rewrite_table(
        world_dir, tmp_path_factory.mktemp("pii-bad"), "contacts",
        "SELECT * REPLACE (CASE WHEN row_number() OVER () <= 3 "
        "THEN email || ' ' || full_name ELSE email END AS email) FROM contacts",
    )  # fmt: skip
    out = tmp_path_factory.mktemp("pii-out") / "week"
    with _info_logging():
        with pytest.raises(ContractError) as failed:
            weekly_flow(str(bad), as_of.isoformat(), str(out))
        published = Path(weekly_flow(str(world_dir), as_of.isoformat(), str(out)))
    APILogWorker.drain_all(timeout=20)
    EventsWorker.drain_all(timeout=20)

    needles = Needles(people["full_name"] | people["email"])
    assert len(people["email"]) > 1000 and len(people["full_name"]) > 1000

    # the scanner works: it finds the people the list names, in the list and in the report
    cands = pd.read_csv(published / "candidates.csv", encoding="utf-8-sig")
    listed = {s.lower() for s in cands["email"]} | {s.lower() for s in cands["full_name"].dropna()}
    in_csv = set().union(*scan([published / "candidates.csv"], needles).values())
    in_html = set().union(*scan([published / "report.html"], needles).values())
    assert listed <= in_csv and listed <= in_html
    assert len(listed) > 100
    quoted = needles.find(failed.value.report.to_text())  # the CLI report shows examples
    assert len(quoted) >= 2

    # MLflow: the database file and every artifact
    store = Path(mlflow_store.removeprefix("sqlite:///"))
    mlflow_files = [p for p in store.parent.glob(store.name + "*") if p.is_file()]
    mlflow_files += _files(store.parent / "mlartifacts")
    assert any(p.name == "run_summary.json" for p in mlflow_files)
    assert sum(p.suffix == ".pkl" or p.name == "MLmodel" for p in mlflow_files) >= 2
    manifest = json.loads((published / "run.json").read_text())
    assert manifest["outputs"]["candidates.csv"]["sha256"] in _sqlite_cells(store)  # it looks
    assert scan(mlflow_files, needles) == {}

    # Prefect: the harness database (and its WAL/journal files)
    db = _sqlite_path(PREFECT_API_DATABASE_CONNECTION_URL.value())
    prefect_files = [p for p in db.parent.glob(db.name + "*") if p.is_file()]
    cells = _sqlite_cells(db)
    assert cands.loc[0, "contact_id"] in cells  # the candidates artifact is read
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        keys = {k for (k,) in con.execute("SELECT key FROM artifact")}
        n_logs = con.execute("SELECT count(*) FROM log").fetchone()[0]
    finally:
        con.close()
    assert {"candidates", "data-contracts", "weekly-summary", "training-summary"} <= keys
    assert n_logs > 0  # run logs are there, and scanned
    assert scan(prefect_files, needles) == {}
