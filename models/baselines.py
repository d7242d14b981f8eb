"""What the model must beat: the rule of thumb marketers already use, and a plain linear model.

The NPS heuristic ("ask promoters, spare detractors") is the status quo; logistic regression on
the same features shows how much the boosted trees add beyond a linear fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

NPS_FEATURE = "nps_latest"  # the registry feature the heuristic reads
NPS_MAX = 10.0  # NPS scale: 0..10
# The heuristic says "certain" at NPS 0 and 10; keep it off 0/1 so one surprise does not make its
# log loss infinite (the clip changes no ranking metric).
HEURISTIC_CLIP = (0.01, 0.99)
LOGREG_MAX_ITER = 1000
MISSING_CATEGORY = "(missing)"


def nps_heuristic(frame: pd.DataFrame, direction: int, base_rate: float) -> np.ndarray:
    """direction +1: nps/10 (p_advocate), -1: (10 - nps)/10 (p_burnout); a target's
    `TargetSpec.nps_direction`. Unknown NPS -> the training base rate."""
    nps = pd.to_numeric(frame[NPS_FEATURE], errors="coerce").to_numpy(dtype=float)
    if direction == 1:
        p = nps / NPS_MAX
    elif direction == -1:
        p = (NPS_MAX - nps) / NPS_MAX
    else:
        raise ValueError(f"NPS direction must be +1 or -1, got {direction!r}")
    p = np.where(np.isnan(p), base_rate, p)
    return np.clip(p, *HEURISTIC_CLIP)


def _as_text(X: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as plain object text with an explicit 'missing' level (one-hot friendly)."""
    return X.astype(object).where(X.notna(), MISSING_CATEGORY)


def logistic_baseline(numeric: Sequence[str], categorical: Sequence[str], seed: int) -> Pipeline:
    """Impute + scale numerics (with missing indicators), one-hot categoricals, then a logit."""
    numeric_steps = Pipeline(
        [
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
        ]
    )
    categorical_steps = Pipeline(
        [
            ("text", FunctionTransformer(_as_text)),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    columns = ColumnTransformer(
        [("num", numeric_steps, list(numeric)), ("cat", categorical_steps, list(categorical))]
    )
    model = LogisticRegression(max_iter=LOGREG_MAX_ITER, random_state=seed)
    return Pipeline([("columns", columns), ("logit", model)])


# Rows the logistic baseline learns from at most (a seeded sample of the fit slice beyond):
# at 1M contacts its 790k burnout rows cost 34 s for a comparison whose AUC moves by < 0.001
# on a 200k sample (docs/benchmarks.md "Training at 1M").
LOGREG_MAX_ROWS = 200_000


def fit_logistic_baseline(
    X: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], categorical: Sequence[str], seed: int
) -> Pipeline:
    """The logistic baseline fitted on the same fit slice as the model (a sample of at most
    `LOGREG_MAX_ROWS` of it)."""
    if len(X) > LOGREG_MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), LOGREG_MAX_ROWS, replace=False))
        X, y = X.iloc[rows], np.asarray(y)[rows]
    return logistic_baseline(numeric, categorical, seed).fit(X, y)
