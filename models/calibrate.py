"""Probability calibration on out-of-fold raw margins of the time-ordered folds.

The booster's scores rank well but are not probabilities one can multiply: the ask policy is
biased and the number of rounds shifts the scale. Each fold's model scores its own, later test
block; a 1-D map fitted on those out-of-fold margins maps the final booster's raw margin (same
params, same rounds) to observed rates, with no row scored by a model that saw it.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

log = logging.getLogger(__name__)

Method = Literal["isotonic", "sigmoid"]


def calibration_method(requested: Method, n_rows: int, isotonic_min_rows: int) -> Method:
    """Isotonic steps overfit few rows (0/1 outputs, tied ranks); fall back to sigmoid."""
    if requested == "isotonic" and n_rows < isotonic_min_rows:
        log.info("%d < %d out-of-fold rows: sigmoid calibration", n_rows, isotonic_min_rows)
        return "sigmoid"
    return requested


class MarginColumn(ClassifierMixin, BaseEstimator):
    """A "classifier" whose decision function is its one input column: the raw margin."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> MarginColumn:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


def fit_margin_calibrator(
    margins: np.ndarray, y: np.ndarray, method: Method
) -> CalibratedClassifierCV:
    """A fitted `CalibratedClassifierCV` whose one map takes the booster's raw margin
    (`pyfunc_model.calibration_maps`), fitted on out-of-fold margins and labels."""
    if len(np.unique(y)) < 2:
        raise ValueError("the out-of-fold rows hold one class only: cannot calibrate")
    frozen = FrozenEstimator(MarginColumn().fit(None, None))
    X = np.asarray(margins, dtype=float).reshape(-1, 1)
    return CalibratedClassifierCV(frozen, method=method).fit(X, np.asarray(y, dtype=int))
