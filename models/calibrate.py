"""Probability calibration on the valid slice (never the holdout).

The booster's scores rank well but are not probabilities one can multiply: the ask policy is
biased and early stopping shifts the scale. A calibrator fitted on held-apart, time-later rows
maps scores to observed rates; the frozen booster itself is not refitted.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

log = logging.getLogger(__name__)

Method = Literal["isotonic", "sigmoid"]


def calibration_method(requested: Method, n_rows: int, isotonic_min_rows: int) -> Method:
    """Isotonic steps overfit a small slice (0/1 outputs, tied ranks); fall back to sigmoid."""
    if requested == "isotonic" and n_rows < isotonic_min_rows:
        log.info("valid slice has %d < %d rows: sigmoid calibration", n_rows, isotonic_min_rows)
        return "sigmoid"
    return requested


def fit_calibrator(
    classifier: Any, X_valid: pd.DataFrame, y_valid: np.ndarray, method: Method
) -> CalibratedClassifierCV:
    """Calibrate an already fitted classifier on the valid slice (sklearn 1.9: FrozenEstimator)."""
    if len(np.unique(y_valid)) < 2:
        raise ValueError("the valid slice holds one class only: cannot calibrate")
    return CalibratedClassifierCV(FrozenEstimator(classifier), method=method).fit(X_valid, y_valid)
