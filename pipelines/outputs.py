"""The four published files of a run (outputs.md) and their manifest."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from advocacy_settings import Settings
from models import score
from models.tracking import model_name_for
from pipelines.publish import sha256_of
from pipelines.report import render_report

log = logging.getLogger(__name__)

FILES = ("scores.parquet", "candidates.csv", "report.html", "run.json")
TITLES = {"advocate": "Advocacy propensity", "burnout": "Burnout risk"}
COMPARED = (
    ("model", "LightGBM (this model)"),
    ("nps", "Latest-NPS rule"),
    ("logreg", "Logistic regression"),
)


def _pipeline_version() -> str:
    try:
        return version("advocacy-pipeline")
    except PackageNotFoundError:
        return "unknown"


def champion_summary(target: str, name: str, model_version: int) -> dict[str, Any]:
    """Registry version, run id and holdout metrics of the model that scored this run."""
    client = MlflowClient()
    mv = client.get_model_version(name, str(model_version))
    metrics = client.get_run(mv.run_id).data.metrics
    rows = []
    for key, label in COMPARED:
        m = {
            k.removeprefix(f"holdout_{key}_"): v
            for k, v in metrics.items()
            if k.startswith(f"holdout_{key}_")
        }
        if m:
            rows.append(
                {
                    "label": label,
                    **{k: _fmt(m.get(k)) for k in ("auc", "pr_auc", "log_loss", "brier")},
                    "lift": _fmt(m.get("lift_top_decile"), 2),
                    "n": int(m["n_rows"]) if "n_rows" in m else "",
                }
            )
    return {
        "target": target, "title": TITLES[target], "name": name, "version": int(model_version),
        "run_id": mv.run_id, "metrics": metrics, "rows": rows,
    }  # fmt: skip


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def outcome_row(outcome: Any) -> dict[str, Any]:
    """One line of the training summary (CLI table and Prefect artifact)."""
    m = outcome.metrics
    return {
        "model": outcome.model_name,
        "version": outcome.version,
        "promoted": outcome.promoted,
        "auc": round(m.get("holdout_model_auc", float("nan")), 4),
        "auc_nps": round(m.get("holdout_nps_auc", float("nan")), 4),
        "auc_logreg": round(m.get("holdout_logreg_auc", float("nan")), 4),
        "log_loss": round(m.get("holdout_model_log_loss", float("nan")), 4),
        "decision": outcome.decision,
        "run_id": outcome.run_id,
    }


@dataclass
class RunBundle:
    """Everything a run publishes, ready to be written into a (temporary) folder."""

    as_of: date
    scores: pd.DataFrame
    candidates: pd.DataFrame
    models: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    contracts: dict[str, Any]
    settings: Settings
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    @classmethod
    def assemble(
        cls, *, as_of, ranked, candidates, champions, inputs, contracts, settings
    ) -> RunBundle:
        models = [
            champion_summary(t, model_name_for(t, settings), champions[t][1])
            for t in ("advocate", "burnout")
        ]
        versions = {m["name"]: m["version"] for m in models}
        return cls(
            as_of=as_of,
            scores=score.scores_table(ranked, as_of, versions),
            candidates=candidates,
            models=models,
            inputs=inputs,
            contracts=contracts,
            settings=settings,
        )

    def write(self, folder: Path) -> None:
        """Write the four files; run.json last, with the others' checksums."""
        self.scores.to_parquet(folder / "scores.parquet", index=False)
        self.candidates.to_csv(folder / "candidates.csv", index=False, encoding="utf-8")
        (folder / "report.html").write_text(self._report_html(), encoding="utf-8")
        manifest = self.manifest({f: folder / f for f in FILES[:-1]})
        (folder / "run.json").write_text(
            json.dumps(manifest, indent=2, default=str), encoding="utf-8"
        )

    def _report_html(self) -> str:
        s = self.settings
        return render_report(
            as_of=self.as_of, candidates=self.candidates, scores=self.scores, models=self.models,
            inputs=self.inputs, contracts_ok=bool(self.contracts.get("ok", True)),
            generated_at=self.generated_at,
            settings_summary={
                "max_per_account": s.ranking.max_per_account,
                "response_window_days": s.windows.response_window_days,
                "burnout_horizon_days": s.windows.burnout_horizon_days,
                "recent_ask_days": s.eligibility.recent_ask_days,
                "max_detractor_nps": s.eligibility.max_detractor_nps,
                "blocking_ticket_priorities": list(s.eligibility.blocking_ticket_priorities),
            },
        )  # fmt: skip

    def manifest(self, files: dict[str, Path]) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at,
            "pipeline_version": _pipeline_version(),
            "inputs": {p["table"]: p for p in self.inputs},
            "contracts": self.contracts,
            "models": [
                {k: m[k] for k in ("target", "name", "version", "run_id")}
                | {
                    "holdout_metrics": {
                        k: v for k, v in m["metrics"].items() if k.startswith("holdout_")
                    }
                }
                for m in self.models
            ],
            "counts": {
                "scored": len(self.scores),
                "eligible": int(self.scores["eligible"].sum()),
                "shortlisted": len(self.candidates),
            },
            "outputs": {
                name: {"sha256": sha256_of(path), "bytes": path.stat().st_size}
                for name, path in files.items()
            },
            "settings": self.settings.model_dump(mode="json"),
        }

    def summary_markdown(self, published: Path) -> str:
        lines = [
            f"# Advocacy list as of {self.as_of}",
            f"- published to `{published}`",
            f"- scored {len(self.scores):,} contacts, "
            f"{int(self.scores['eligible'].sum()):,} eligible, "
            f"{len(self.candidates)} on the list",
        ]
        lines += [f"- {m['title']}: `{m['name']}` v{m['version']}" for m in self.models]
        return "\n".join(lines)


def log_to_mlflow(published: Path, as_of: date, settings: Settings) -> str:
    """A scoring run in MLflow holding the published files, for lineage."""
    mlflow.set_experiment(settings.tracking.experiment)
    with mlflow.start_run(run_name=f"publish-{as_of}") as run:
        mlflow.set_tags({"stage": "publish", "as_of": as_of.isoformat()})
        for name in FILES:
            mlflow.log_artifact(str(published / name), artifact_path="published")
    return run.info.run_id
