"""The self-contained HTML report a marketer opens: the list, why, model quality, freshness."""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Any

import pandas as pd
from advocacy.policy.ranking import REASON_WORDS
from jinja2 import Environment, PackageLoader


def _figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def score_distribution_chart(scores: pd.DataFrame) -> str:
    """Histogram of priority for eligible vs ineligible contacts, as an inline PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, col, title in (
        (axes[0], "p_advocate", "Chance of saying yes (p_advocate)"),
        (axes[1], "p_burnout", "Burnout risk in 90 days (p_burnout)"),
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
    png = _figure_png(fig)
    plt.close(fig)
    return png


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
    env = Environment(loader=PackageLoader("pipelines", "templates"), autoescape=True)
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
            {"reason": REASON_WORDS.get(r, r), "count": int(n)} for r, n in left_alone.items()
        ],
        chart=score_distribution_chart(scores),
        models=models,
        inputs=inputs,
        contracts_ok=contracts_ok,
        settings=settings_summary,
    )
