"""Evaluation figures: ROC/PR, calibration, lift, feature importance.

Figures are built with the object API on an Agg canvas created inside each function: no pyplot
state, no GUI backend, nothing chosen at import, so they work in headless flows and notebooks.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from advocacy.models.evaluate import CALIBRATION_BINS, lift_curve

FIG_SIZE = (6.0, 4.5)
WIDE_FIG_SIZE = (11.0, 4.5)
TOP_FEATURES = 20
PNG_DPI = 100


def _figure(size: tuple[float, float] = FIG_SIZE) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # Agg canvas for this figure only
    return fig


def roc_pr_figure(y: np.ndarray, predictions: dict[str, np.ndarray], title: str) -> Figure:
    """ROC and precision-recall curves of several predictors on the same rows."""
    fig = _figure(WIDE_FIG_SIZE)
    roc_ax, pr_ax = fig.subplots(1, 2)
    for name, p in predictions.items():
        fpr, tpr, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        roc_ax.plot(fpr, tpr, label=name)
        pr_ax.plot(recall, precision, label=name)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    pr_ax.axhline(float(np.mean(y)), color="grey", linestyle=":", linewidth=1, label="base rate")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{title}: ROC")
    pr_ax.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall")
    roc_ax.legend(loc="lower right")
    pr_ax.legend(loc="upper right")
    return fig


def calibration_figure(y: np.ndarray, predictions: dict[str, np.ndarray], title: str) -> Figure:
    """Observed positive rate against mean predicted probability, per probability bin."""
    fig = _figure()
    ax = fig.subplots()
    for name, p in predictions.items():
        observed, predicted = calibration_curve(
            y, np.clip(p, 0.0, 1.0), n_bins=CALIBRATION_BINS, strategy="uniform"
        )
        ax.plot(predicted, observed, marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    ax.set(
        xlabel="mean predicted probability", ylabel="observed rate", title=f"{title}: calibration"
    )
    ax.legend(loc="upper left")
    return fig


def lift_figure(y: np.ndarray, predictions: dict[str, np.ndarray], title: str) -> Figure:
    """Lift per score decile (1 = highest scores) for several predictors."""
    fig = _figure()
    ax = fig.subplots()
    width = 0.8 / max(len(predictions), 1)
    for i, (name, p) in enumerate(predictions.items()):
        curve = lift_curve(y, p)
        ax.bar(
            curve["bin"] + (i - (len(predictions) - 1) / 2) * width,
            curve["lift"],
            width,
            label=name,
        )
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(range(1, CALIBRATION_BINS + 1))
    ax.set(
        xlabel="score decile (1 = highest)", ylabel="lift over base rate", title=f"{title}: lift"
    )
    ax.legend(loc="upper right")
    return fig


def importance_figure(importance: pd.Series, title: str, top: int = TOP_FEATURES) -> Figure:
    """Horizontal bars of the strongest features (e.g. total gain or mean |contribution|)."""
    fig = _figure()
    ax = fig.subplots()
    shown = importance.sort_values(ascending=True).tail(top)
    ax.barh(shown.index.astype(str), shown.to_numpy())
    ax.set(xlabel=importance.name or "importance", title=f"{title}: strongest features")
    return fig


def figure_png(fig: Figure, *, dpi: int = PNG_DPI, tight: bool = False) -> bytes:
    """PNG bytes of a figure: the one figure-to-PNG helper (notebooks, the HTML report).

    `tight` crops the white margin (`bbox_inches="tight"`), for images inlined in a page.
    Works for pyplot figures too: it saves through the figure's own canvas.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buffer.getvalue()
