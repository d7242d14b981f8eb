"""The self-contained HTML report a marketer opens: the value of the list, the list, why, what
became of earlier lists, the program's health, model quality, freshness."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.models.plots import figure_png
from advocacy.policy.eligibility import reason_words

CHART_DPI = 110
# Program health panels: (title, [(program.csv column, legend label), ...], lines or stacked).
PROGRAM_PANELS = (
    ("Active advocates", [("active_advocates", "active")], "lines"),
    ("New advocates and opt-outs", [("new_advocates", "new"), ("opt_outs", "opted out")], "lines"),
    ("Asks made and yeses", [("asks_made", "asks"), ("asks_yes", "yes (settled)")], "lines"),
    ("Acceptance rate (settled asks)", [("acceptance_rate", "all types")], "lines"),
    ("Completed activities by type", [(f"completed_{t}", t) for t in ACTIVITY_TYPES], "stacked"),
    ("Over-use, last 90 days", [("over_used_90d", "people over the cap")], "lines"),
    ("Share of asks to the top 10%", [("top10_share_90d", "share, last 90 days")], "lines"),
)


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
    return _png_uri(fig)


def _png_uri(fig: Figure) -> str:
    png = figure_png(fig, dpi=CHART_DPI, tight=True)
    return "data:image/png;base64," + base64.b64encode(png).decode()


def program_chart(program: pd.DataFrame) -> str | None:
    """Small line charts of the program's weekly measures (None: no weeks to show)."""
    if program.empty:
        return None
    fig = Figure(figsize=(12, 5.6))
    FigureCanvasAgg(fig)
    weeks = pd.to_datetime(program["week_end"])
    axes = list(fig.subplots(2, 4).flat)
    for ax, (title, series, kind) in zip(axes, PROGRAM_PANELS, strict=False):
        values = [pd.to_numeric(program[c]).astype("float64").to_numpy() for c, _ in series]
        labels = [label.replace("_", " ") for _, label in series]
        if kind == "stacked":
            ax.stackplot(weeks, *values, labels=labels, step="mid")
        else:
            for v, label in zip(values, labels, strict=True):
                ax.plot(weeks, v, marker=".", linewidth=1.0, label=label)
        ax.set_xlim(weeks.min(), weeks.max())
        locator = AutoDateLocator(maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        if len(series) > 1:
            ax.legend(fontsize=6)
    _acceptance_bars(axes[-1], by_type(program))
    fig.tight_layout()
    return _png_uri(fig)


def _acceptance_bars(ax: Any, types: list[dict[str, Any]]) -> None:
    """Acceptance per activity type over all the weeks shown (settled asks pooled)."""
    rated = [t for t in types if t["rate"] is not None]
    ax.barh([t["type"] for t in rated], [t["rate"] for t in rated], color="#2b8a3e")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title("Acceptance by activity type (all weeks)", fontsize=9)
    ax.tick_params(labelsize=7)


def by_type(program: pd.DataFrame) -> list[dict[str, Any]]:
    """Per activity type over the weeks shown: settled asks, yeses, their rate, completions."""
    total = program.drop(columns=["week_start", "week_end"]).apply(pd.to_numeric).sum()
    rows = []
    for t in ACTIVITY_TYPES:
        answered, yes = int(total[f"asks_answered_{t}"]), int(total[f"asks_yes_{t}"])
        rows.append(
            {
                "type": t.replace("_", " "), "answered": answered, "yes": yes,
                "rate": yes / answered if answered else None,
                "completed": int(total[f"completed_{t}"]),
            }
        )  # fmt: skip
    return [r for r in rows if r["answered"] or r["completed"]]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the template, with missing values as None (NaN is truthy in Jinja)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


MAX_MATCH_ROWS = 200  # the report shows the first matches; matches.csv has them all


def _plan_total(by_activity: pd.DataFrame | None) -> dict[str, Any] | None:
    """The ask plan's totals over every activity type (the table's last row)."""
    if by_activity is None or by_activity.empty:
        return None
    numbers = by_activity.drop(columns="activity_type")
    return {c: numbers[c].sum().item() for c in numbers.columns}  # counts stay integers


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
    earlier_lists: list[dict[str, Any]] | None = None,
    program: pd.DataFrame | None = None,
    value: dict[str, Any] | None = None,
    drift: list[str] | None = None,
    drifted: dict[str, list[str]] | None = None,
    by_activity: pd.DataFrame | None = None,
    plan_messages: Sequence[str] = (),
    matches: pd.DataFrame | None = None,
    open_deals: int | None = None,
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
        value=value,
        drift_tables=[Markup(t) for t in drift or []],  # built escaped (monitoring/drift.py)
        drifted=drifted or {},
        earlier_lists=earlier_lists or [],
        by_activity=_records(by_activity) if by_activity is not None else [],
        plan_total=_plan_total(by_activity),
        plan_messages=list(plan_messages),
        matches=_records(matches.head(MAX_MATCH_ROWS)) if matches is not None else [],
        n_matches=0 if matches is None else len(matches),
        open_deals=open_deals,
        program_chart=program_chart(program) if program is not None else None,
        program_latest=_records(program.tail(1))[0]
        if program is not None and len(program)
        else None,
        by_type=by_type(program) if program is not None and len(program) else [],
        n_program_weeks=len(program) if program is not None else 0,
    )
