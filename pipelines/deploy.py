"""Serve the weekly flow as a Prefect deployment on a cron schedule (Mondays 06:00 UTC)."""

from __future__ import annotations

from pathlib import Path

from prefect.schedules import Cron

from advocacy.pipelines.flows import weekly_flow
from advocacy.settings import Settings


def deployment_parameters(data_dir: Path, out_dir: Path | None, config_path: str | None) -> dict:
    """as_of is left unset so every scheduled run uses its own day (UTC)."""
    params: dict = {"data_dir": str(Path(data_dir).resolve())}
    if out_dir is not None:
        params["out_dir"] = str(Path(out_dir).resolve())
    if config_path is not None:
        params["config_path"] = str(Path(config_path).resolve())
    return params


def serve(
    data_dir: Path,
    settings: Settings,
    *,
    out_dir: Path | None = None,
    cron: str | None = None,
    config_path: str | None = None,
) -> None:
    """Block and run scheduled (and ad-hoc `prefect deployment run`) runs of `weekly-advocacy`."""
    weekly_flow.serve(
        name=settings.schedule.deployment_name,
        schedule=Cron(cron or settings.schedule.cron, timezone=settings.schedule.timezone),
        parameters=deployment_parameters(data_dir, out_dir, config_path),
        tags=["advocacy"],
    )
