"""What leaves the output folder: the MLflow lineage run and the Prefect artifacts' content.

Everything built here is ids, counts, checksums and score summaries only (docs/outputs.md,
"Personal data"): names, titles and e-mails stay in candidates.csv and report.html.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from advocacy.models import tracking
from advocacy.models.targets import TARGETS
from advocacy.monitoring.drift import DriftWatch
from advocacy.pipelines.outputs import FILES, RunBundle
from advocacy.pipelines.publish import sha256_of

MANIFEST = FILES[-1]


# ---------------------------------------------------------------- the MLflow lineage run
def publish_metrics(bundle: RunBundle) -> dict[str, float]:
    """Counts and score summaries of a run: no ids, no names, nothing per person."""
    scores, cands = bundle.scores, bundle.candidates
    metrics: dict[str, float] = {
        **bundle.counts(),
        "shortlisted_accounts": int(cands["account_id"].nunique()),
    }
    columns = (*(spec.score_column for spec in TARGETS), "priority")
    for name, frame in (("population", scores), ("eligible", scores[scores["eligible"]])):
        for col in columns:
            metrics |= _quantiles(frame[col], f"{name}_{col}")
    for col in columns:
        metrics |= _quantiles(cands[col], f"shortlist_{col}")
    for reason, n in scores["ineligible_reason"].value_counts().items():
        metrics[f"left_alone_{reason}"] = int(n)
    for activity, n in cands["suggested_activity"].value_counts().items():
        metrics[f"suggested_{activity}"] = int(n)
    metrics |= _plan_metrics(bundle.by_activity)
    return {k: float(v) for k, v in metrics.items() if pd.notna(v)}


def _plan_metrics(by_activity: pd.DataFrame | None) -> dict[str, float]:
    """The ask plan per activity type (budget, filled, explore, expected yeses) and the value of
    the plan and of the greedy top-N under the same rules."""
    if by_activity is None or by_activity.empty:
        return {}
    out: dict[str, float] = {}
    for row in by_activity.itertuples(index=False):
        for col in ("budget", "filled", "explored", "expected_yes"):
            out[f"plan_{row.activity_type}_{col}"] = float(getattr(row, col))
    out["plan_value"] = float(by_activity["value"].sum())
    out["plan_greedy_value"] = float(by_activity["greedy_value"].sum())
    return out


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


PUBLISH_KEY_TAG = "advocacy.publish_key"  # sha256 of the published run.json


def drift_metrics(watch: DriftWatch) -> dict[str, float]:
    """Drifted columns and their share per reference, as MLflow metrics."""
    out = {}
    for report in watch.reports:
        key = report.label.split(" (")[0].replace(" ", "_")  # "training window (90 days ...)"
        out[f"drift_{key}_n_drifted"] = float(len(report.drifted))
        out[f"drift_{key}_share"] = float(report.share)
    return out


def drift_markdown(watch: DriftWatch | None) -> str:
    """The drift tables for a Prefect artifact (column names and distances only)."""
    if watch is None or not watch.reports:
        return "No earlier run or training window to compare with yet.\n"
    return "\n".join(r.to_markdown() for r in watch.reports)


def log_lineage(bundle: RunBundle, published: Path) -> str:
    """A `publish-<as_of>` run for lineage, with no personal data in it; its run id.

    Logged: the manifest (`published/run_summary.json`: run.json as written, output checksums
    included, contract examples left out), counts and score summaries as metrics. Not logged:
    the files themselves; candidates.csv and report.html name people and stay in `published`.
    Idempotent: the run is keyed by run.json's checksum, so a retry after the run FINISHED
    returns it instead of logging a second one (a run cut short is left FAILED by MLflow).
    """
    manifest_file = published / MANIFEST
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    key = sha256_of(manifest_file)
    experiment = mlflow.set_experiment(bundle.settings.tracking.experiment)
    done = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{PUBLISH_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        output_format="list",
        max_results=1,
    )
    if done:
        return done[0].info.run_id
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
        if bundle.drift is not None:  # counts and distances only (monitoring/drift.py)
            mlflow.log_dict(bundle.drift.summary(), "drift/drift_summary.json")
            mlflow.log_metrics(drift_metrics(bundle.drift))
        mlflow.set_tag(PUBLISH_KEY_TAG, key)  # last: only a complete run carries the key
    return run.info.run_id


# ---------------------------------------------------------------- Prefect artifacts' content
ARTIFACT_COLUMNS = (
    "rank", "contact_id", "account_id", "p_advocate", "p_burnout", "priority",
    "suggested_activity", "as_of",
)  # fmt: skip


def candidates_artifact(candidates: pd.DataFrame, rows: int = 25) -> list[dict[str, Any]]:
    """The top of the list for the Prefect UI: ids and scores, no names, titles or e-mails."""
    top = candidates.head(rows)[list(ARTIFACT_COLUMNS)]
    top = top.assign(as_of=top["as_of"].map(lambda d: pd.Timestamp(d).date().isoformat()))
    return json.loads(top.to_json(orient="records"))


def outcome_row(outcome: Any) -> dict[str, Any]:
    """One line of the training summary (CLI table and Prefect artifact)."""
    m = outcome.metrics
    return {
        "model": outcome.model_name,
        "version": outcome.version,
        "promoted": outcome.promoted,
        "ranker": getattr(outcome, "ranker", "lightgbm"),
        "auc": round(m.get("holdout_model_auc", float("nan")), 4),
        "auc_nps": round(m.get("holdout_nps_auc", float("nan")), 4),
        "auc_logreg": round(m.get("holdout_logreg_auc", float("nan")), 4),
        "log_loss": round(m.get("holdout_model_log_loss", float("nan")), 4),
        "decision": outcome.decision,
        "fallback_reason": getattr(outcome, "fallback_reason", ""),
        "run_id": outcome.run_id,
    }


def summary_markdown(bundle: RunBundle, published: Path) -> str:
    """The weekly summary for the Prefect UI: where, how many, which model versions."""
    counts = bundle.counts()
    lines = [
        f"# Advocacy list as of {bundle.as_of}",
        f"- published to `{published}`",
        f"- scored {counts['scored']:,} contacts, {counts['eligible']:,} eligible, "
        f"{counts['shortlisted']} on the list",
    ]
    lines += [
        f"- {m['title']}: `{m['name']}` v{m['version']}, ranks with {m.get('ranker', 'lightgbm')}"
        + (f" (fallback: {m['reason']})" if m.get("fallback") else "")
        for m in bundle.models
    ]
    return "\n".join(lines)


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
