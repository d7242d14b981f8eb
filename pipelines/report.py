"""The self-contained HTML report a marketer opens: the list, why, model quality, freshness."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from advocacy.models.plots import figure_png
from advocacy.policy.eligibility import reason_words

CHART_DPI = 110


def score_distribution_chart(scores: pd.DataFrame, horizon_days: int) -> str:
    """Histograms of each score for eligible vs ineligible contacts, as an inline PNG."""
    fig = Figure(figsize=(10, 3.2))
    FigureCanvasAgg(fig)  # Agg canvas for this figure only: no pyplot state, no GUI backend
    axes = fig.subplots(1, 2)
    for ax, col, title in (
        (axes[0], "p_advocate", "Chance of saying yes (p_advocate)"),
        (axes[1], "p_burnout", f"Burnout risk in {horizon_days} days (p_burnout)"),
    ):
        ax.hist(
            [scores.loc[scores["eligible"], col], scores.loc[~scores["eligible"], col]],
            bins=30, range=(0, 1), stacked=True, label=["eligible", "left alone"],
            color=["#2b8a3e", "#adb5bd"],
        )  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("probability")
        ax.set_ylabel("contacts")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    png = figure_png(fig, dpi=CHART_DPI, tight=True)
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the template, with missing values as None (NaN is truthy in Jinja)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def render_report(
    *,
    as_of: date,
    candidates: pd.DataFrame,
    scores: pd.DataFrame,
    models: list[dict[str, Any]],
    inputs: list[dict[str, Any]],
    contracts_ok: bool,
    settings_summary: dict[str, Any],
    generated_at: str,
) -> str:
    # Every value is escaped: names, titles and account names come from the CRM as typed.
    env = Environment(loader=PackageLoader("advocacy.pipelines", "templates"), autoescape=True)
    left_alone = (
        scores.loc[~scores["eligible"], "ineligible_reason"].value_counts().rename_axis("reason")
    )
    return env.get_template("report.html").render(
        as_of=as_of.isoformat(),
        generated_at=generated_at,
        candidates=_records(candidates),
        n_population=len(scores),
        n_eligible=int(scores["eligible"].sum()),
        left_alone=[
            {"reason": reason_words(r, settings_summary), "count": int(n)}
            for r, n in left_alone.items()
        ],
        chart=score_distribution_chart(scores, settings_summary["burnout_horizon_days"]),
        models=models,
        inputs=inputs,
        contracts_ok=contracts_ok,
        settings=settings_summary,
    )
