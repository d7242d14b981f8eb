"""The four published files of a run (outputs.md), their manifest, and what leaves the folder.

`candidates.csv` and `report.html` name people (full name, title, e-mail): they stay in the
output folder. What goes to MLflow and to Prefect artifacts is built here from ids, counts,
checksums and score summaries only (docs/outputs.md, "Personal data").
"""

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
from advocacy.models import score, tracking
from advocacy.models.tracking import model_name_for
from advocacy.pipelines.publish import sha256_of
from advocacy.pipelines.report import render_report
from mlflow.tracking import MlflowClient

from advocacy.settings import Settings

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
        score.write_candidates_csv(
            self.candidates, folder / "candidates.csv", encoding=self.settings.outputs.csv_encoding
        )
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


def publish_metrics(bundle: RunBundle) -> dict[str, float]:
    """Counts and score summaries of a run: no ids, no names, nothing per person."""
    scores, cands = bundle.scores, bundle.candidates
    metrics: dict[str, float] = {
        "scored": len(scores),
        "eligible": int(scores["eligible"].sum()),
        "shortlisted": len(cands),
        "shortlisted_accounts": int(cands["account_id"].nunique()),
    }
    for name, frame in (("population", scores), ("eligible", scores[scores["eligible"]])):
        for col in ("p_advocate", "p_burnout", "priority"):
            metrics |= _quantiles(frame[col], f"{name}_{col}")
    for col in ("p_advocate", "p_burnout", "priority"):
        metrics |= _quantiles(cands[col], f"shortlist_{col}")
    for reason, n in scores["ineligible_reason"].value_counts().items():
        metrics[f"left_alone_{reason}"] = int(n)
    for activity, n in cands["suggested_activity"].value_counts().items():
        metrics[f"suggested_{activity}"] = int(n)
    return {k: float(v) for k, v in metrics.items() if pd.notna(v)}


def _quantiles(values: pd.Series, prefix: str) -> dict[str, float]:
    if values.empty:
        return {}
    q = values.quantile([0.1, 0.5, 0.9])
    return {
        f"{prefix}_mean": float(values.mean()),
        f"{prefix}_p10": float(q.loc[0.1]),
        f"{prefix}_p50": float(q.loc[0.5]),
        f"{prefix}_p90": float(q.loc[0.9]),
    }


def publish_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """run.json without anything that may quote the data: contract examples and problems."""
    summary = json.loads(json.dumps(manifest, default=str))
    contracts = summary.get("contracts") or {}
    for table in contracts.get("tables", []):
        if table.get("problem"):
            table["problem"] = problem_kind(table["problem"])
        for failure in table.get("failures", []):
            failure.pop("examples", None)
    return summary


def problem_kind(problem: str) -> str:
    """'unreadable: <the reader's message, which may quote a line>' -> 'unreadable'."""
    return problem.split(":", 1)[0]


def log_to_mlflow(bundle: RunBundle, published: Path) -> str:
    """A `publish-<as_of>` run for lineage, with no personal data in it.

    Logged: the manifest (`published/run_summary.json`: run.json as written, output checksums
    included, contract examples left out), counts and score summaries as metrics. Not logged:
    the files themselves; candidates.csv and report.html name people and stay in `published`.
    """
    manifest = json.loads((published / "run.json").read_text(encoding="utf-8"))
    mlflow.set_experiment(bundle.settings.tracking.experiment)
    with mlflow.start_run(
        run_name=f"publish-{bundle.as_of}", tags=tracking.run_identity_tags()
    ) as run:
        mlflow.set_tags(
            {
                "stage": "publish",
                "as_of": bundle.as_of.isoformat(),
                **{f"sha256.{n}": o["sha256"] for n, o in manifest["outputs"].items()},
            }
        )
        mlflow.log_metrics(publish_metrics(bundle))
        mlflow.log_dict(publish_summary(manifest), "published/run_summary.json")
    return run.info.run_id


# ---------------------------------------------------------------- Prefect artifacts
ARTIFACT_COLUMNS = (
    "rank", "contact_id", "account_id", "p_advocate", "p_burnout", "priority",
    "suggested_activity", "as_of",
)  # fmt: skip


def candidates_artifact(candidates: pd.DataFrame, rows: int = 25) -> list[dict[str, Any]]:
    """The top of the list for the Prefect UI: ids and scores, no names, titles or e-mails."""
    top = candidates.head(rows)[list(ARTIFACT_COLUMNS)]
    top = top.assign(as_of=top["as_of"].map(lambda d: pd.Timestamp(d).date().isoformat()))
    return json.loads(top.to_json(orient="records"))


def _failing(failure: Any) -> str:
    """The count; a failure described in words (`detail`) points to the CLI report instead."""
    return "see the CLI report" if getattr(failure, "detail", None) else f"{failure.failing_rows:,}"


def contracts_markdown(report: Any) -> str:
    """The contract check for the Prefect UI: per table and per failed rule, counts only.

    Example values (which may be e-mails or names) stay in the CLI report and the Data Docs.
    """
    verdict = "PASSED" if report.ok else "FAILED"
    as_of = f" as of {report.as_of.isoformat()}" if report.as_of else ""
    lines = [
        f"# Input contracts{as_of}: {verdict}",
        "",
        "| table | rows | checks | failed checks | result |",
        "|---|---:|---:|---:|---|",
    ]
    for t in report.tables:
        result = "OK" if t.ok else f"FAIL ({problem_kind(t.problem)})" if t.problem else "FAIL"
        lines.append(f"| {t.table} | {t.rows:,} | {t.checks_run} | {len(t.failures)} | {result} |")
    failures = [f for t in report.tables for f in t.failures]
    if failures:
        lines += ["", "| table | column | rule | failing rows |", "|---|---|---|---:|"]
        lines += [
            f"| {f.table} | {f.column or '(table)'} | {f.rule} | {_failing(f)} |" for f in failures
        ]
    lines += [
        "",
        "Example values are left out here: see `advocacy validate` or the Data Docs"
        + (f" (`{report.data_docs_index}`)." if report.data_docs_index else "."),
    ]
    return "\n".join(lines)
