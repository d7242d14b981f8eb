"""`advocacy api`: advocates for a deal over HTTP, for CRM buttons and sales tools.

`create_app` builds the FastAPI app (OpenAPI at /docs); `serve` runs it with uvicorn, bound to
127.0.0.1 by default. The latest published run is loaded at start and again whenever the run
folder's resolved target or its advocates file changes (one stat per request).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from advocacy.pipelines import match
from advocacy.settings import Settings

log = logging.getLogger(__name__)


class _Latest:
    """The loaded advocates, reloaded when `latest` points elsewhere or the file changes."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self._lock = run_dir, threading.Lock()
        self._key: tuple[str, int] | None = None
        self._loaded: match.PublishedAdvocates | None = None

    def _stamp(self) -> tuple[str, int]:
        target = self.run_dir.resolve()
        return str(target), (target / match.ADVOCATES_FILE).stat().st_mtime_ns

    def get(self) -> match.PublishedAdvocates:
        with self._lock:
            try:
                key = self._stamp()
            except OSError:
                key = None
            if self._loaded is None or key != self._key:
                self._loaded, self._key = match.load_advocates(self.run_dir), key
                log.info("api: serving run %s", self._loaded.run_dir)
            return self._loaded


def create_app(data_dir: Path | str, settings: Settings, run: Path | str | None = None) -> FastAPI:
    """The app; the run folder (default `<output_root>/latest`) is loaded now, so a bad one
    fails at start and not on the first request."""
    latest = _Latest(match.run_folder(settings, run))
    latest.get()
    app = FastAPI(
        title="advocacy: advocates for a deal",
        description="The best available advocates for an open opportunity (docs/matching.md).",
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        loaded = latest.get()
        return {
            "status": "ok",
            "run": str(loaded.run_dir),
            "as_of": loaded.as_of.isoformat() if loaded.as_of else None,
            "advocates": loaded.num_rows,
        }

    @app.get("/opportunities/{opportunity_id}/advocates")
    def advocates(
        opportunity_id: str,
        top: Annotated[int, Query(ge=1, le=100)] = settings.matching.top,
    ) -> list[dict[str, Any]]:
        try:
            opportunity = match.read_opportunity(data_dir, opportunity_id)
        except match.MatchInputError as exc:
            raise HTTPException(404, str(exc)) from None
        if opportunity is None:
            raise HTTPException(404, f"unknown opportunity: {opportunity_id}")
        rows = match.answer(latest.get(), opportunity, settings.matching, top)
        return json.loads(rows.to_json(orient="records"))

    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run the app with uvicorn until stopped (Ctrl-C)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
