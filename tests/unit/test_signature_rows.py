"""The logged model's signature is inferred from a few rows but must equal the whole frame's."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from advocacy.models.tracking import signature_rows


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "dense": rng.normal(size=n),
            "late_null": rng.normal(size=n),
            "cat": rng.choice(["a", "b"], size=n).astype(object),
            "cat_late_null": rng.choice(["x", "y"], size=n).astype(object),
            "int_like": rng.integers(0, 5, size=n).astype("float64"),
        }
    )
    frame.loc[n - 3, "late_null"] = np.nan  # a null long after the head rows
    frame.loc[n - 1, "cat_late_null"] = np.nan
    return frame


def test_signature_from_the_sample_equals_the_signature_of_all_rows() -> None:
    frame = _frame(5_000, seed=1)
    sample = signature_rows(frame, head=10)
    assert len(sample) == 12  # 10 head rows + the first null row of the two nullable columns
    full = infer_signature(frame, np.zeros(len(frame)))
    small = infer_signature(sample, np.zeros(1))
    assert small == full
    optional = {c.name for c in full.inputs.inputs if not c.required}
    assert optional == {"late_null", "cat_late_null"}


def test_short_frames_are_taken_whole() -> None:
    frame = _frame(8, seed=2)
    assert signature_rows(frame, head=100).index.tolist() == frame.index.tolist()
