"""The logged model: raw feature columns in (categoricals as text), calibrated probability out.

MLflow signatures cannot carry pandas `category` columns, and LightGBM refuses text, so the
model owns a small encoder that maps each categorical's text values to stable integer codes
learnt on the fit slice (unknown or missing text -> NaN, which LightGBM treats as missing).
Training and every later scoring job go through the same `encode`, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

BIAS_COLUMN = "bias"


class FeatureColumnsError(KeyError):
    """The input lacks feature columns the model was trained on (e.g. a schema change)."""


@dataclass(frozen=True)
class CategoryEncoder:
    """Text -> stable int code per categorical column; codes follow the sorted fit-slice values."""

    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str]) -> CategoryEncoder:
        cats = {c: tuple(sorted(frame[c].dropna().astype(str).unique())) for c in columns}
        return cls(categories=cats)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy with every categorical column replaced by float codes (NaN when unknown)."""
        out = frame.copy()
        for col, values in self.categories.items():
            text = out[col].astype(object).where(out[col].notna(), None)
            codes = pd.Categorical(text, categories=list(values)).codes.astype("float64")
            codes[codes < 0] = np.nan  # -1: missing or never seen in the fit slice
            out[col] = pd.Series(codes, index=out.index)
        return out

    def to_dict(self) -> dict[str, list[str]]:
        return {c: list(v) for c, v in self.categories.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, list[str]]) -> CategoryEncoder:
        return cls(categories={c: tuple(v) for c, v in raw.items()})


class AdvocacyModel(mlflow.pyfunc.PythonModel):
    """Booster (LGBMClassifier) + encoder + calibrator + feature list, as one pyfunc."""

    def __init__(
        self,
        *,
        classifier: Any,
        calibrator: Any,
        encoder: CategoryEncoder,
        features: Sequence[str],
        target: str,
    ) -> None:
        self.classifier = classifier
        self.calibrator = calibrator
        self.encoder = encoder
        self.features = list(features)
        self.target = target

    def encode(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's numeric view of raw feature columns, in training order."""
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise FeatureColumnsError(f"input lacks feature columns: {missing}")
        numeric = [f for f in self.features if f not in self.encoder.categories]
        frame = X[self.features].copy()
        frame[numeric] = frame[numeric].astype("float64")
        return self.encoder.transform(frame)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class, one per row."""
        if len(X) == 0:
            return np.empty(0, dtype=float)
        return self.calibrator.predict_proba(self.encode(X))[:, 1]

    def raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's own (uncalibrated) probability: for diagnostics."""
        return self.classifier.predict_proba(self.encode(X))[:, 1]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Raw-score (log-odds) contributions per feature plus `bias`; rows sum to the raw score."""
        columns = [*self.features, BIAS_COLUMN]
        if len(X) == 0:
            return pd.DataFrame(columns=columns, index=X.index, dtype="float64")
        booster = self.classifier.booster_
        values = booster.predict(
            self.encode(X), pred_contrib=True, num_iteration=booster.best_iteration or None
        )
        return pd.DataFrame(values, columns=columns, index=X.index)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """pyfunc entry point: raw feature columns -> calibrated probabilities."""
        return self.predict_proba(model_input)
