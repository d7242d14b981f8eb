"""`advocacy match` and `advocacy api` end to end: the CLI in-process, the API through a real
HTTP client against a uvicorn server on a free loopback port."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import uvicorn

from advocacy.pipelines import api, match
from advocacy.pipelines.cli import main
from advocacy.policy.matching import MATCH_COLUMNS
from advocacy.settings import Settings
from tests.unit.test_matching import publish

FILE = match.ADVOCATES_FILE


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, Path]:
    return publish(tmp_path_factory.mktemp("cli"))


def test_match_one_opportunity_table_and_json(published, capsys):
    data, run = published
    args = ["match", "--data", str(data), "--run", str(run), "--opportunity", "O1"]
    assert main([*args, "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["rank", "opportunity_id", "contact_id"]
    assert "C1" in out.splitlines()[1] and len(out.splitlines()) == 3
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["contact_id"] == "C1" and list(rows[0]) == list(MATCH_COLUMNS)


def test_unknown_opportunity_exits_2_with_one_line(published, capsys):
    data, run = published
    code = main(["match", "--data", str(data), "--run", str(run), "--opportunity", "NOPE"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "advocacy: error: unknown opportunity 'NOPE'"


def test_missing_run_folder_exits_2(published, tmp_path, capsys):
    data, _ = published
    code = main(["match", "--data", str(data), "--run", str(tmp_path), "--opportunity", "O1"])
    assert code == 2 and "advocates.parquet" in capsys.readouterr().err


def test_open_writes_spreadsheet_safe_matches_csv(published, tmp_path, capsys):
    data, run = published
    out = tmp_path / "m.csv"
    args = ["match", "--data", str(data), "--run", str(run), "--open", "--out", str(out)]
    assert main(args) == 0
    assert "assigned 2 advocates to 3 open opportunities" in capsys.readouterr().out
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["opportunity_id"] for r in rows] == ["O2", "O3"]
    assert len({r["contact_id"] for r in rows}) == len(rows)  # per-advocate cap 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(published, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A uvicorn server over `<root>/latest` -> a copy of the run, in a thread."""
    data, run = published
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(run, root / "2024-06-03")
    (root / "latest").symlink_to("2024-06-03")
    app = api.create_app(data, Settings(), root / "latest")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):  # wait until it accepts connections (not a timing assert)
        if srv.started:
            break
        time.sleep(0.05)
    yield base, root
    srv.should_exit = True
    thread.join(10)


def test_api_health_answer_and_openapi(server):
    base, _ = server
    with httpx.Client(base_url=base) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["advocates"] == 3
        rows = client.get("/opportunities/O1/advocates", params={"top": 1}).json()
        assert [r["contact_id"] for r in rows] == ["C1"] and list(rows[0]) == list(MATCH_COLUMNS)
        assert len(client.get("/opportunities/O1/advocates").json()) == 2  # default top 5
        paths = client.get("/openapi.json").json()["paths"]
        assert "/opportunities/{opportunity_id}/advocates" in paths
        assert client.get("/docs").status_code == 200


def test_api_errors(server):
    base, _ = server
    with httpx.Client(base_url=base) as client:
        missing = client.get("/opportunities/NOPE/advocates")
        assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
        for bad in ("0", "abc", "-3"):
            assert client.get(f"/opportunities/O1/advocates?top={bad}").status_code == 422


def test_api_reloads_when_latest_moves(server):
    base, root = server
    newer = root / "2024-06-10"
    shutil.copytree(root / "2024-06-03", newer)
    table = pq.read_table(newer / FILE)
    pq.write_table(table.filter(pc.equal(table.column("contact_id"), "C3")), newer / FILE)
    _point_latest(root, "2024-06-10")
    try:
        with httpx.Client(base_url=base) as client:
            health = client.get("/health").json()
            assert health["run"].endswith("2024-06-10") and health["advocates"] == 1
            rows = client.get("/opportunities/O1/advocates").json()
            assert [r["contact_id"] for r in rows] == ["C3"]
    finally:
        _point_latest(root, "2024-06-03")


def _point_latest(root: Path, name: str) -> None:
    """Move `latest` the way publishing does: a fresh symlink renamed over the old one."""
    (root / "latest.tmp").symlink_to(name)
    (root / "latest.tmp").rename(root / "latest")
