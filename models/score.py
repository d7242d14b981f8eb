"""Score the population with the champion models, with plain-word reasons per contact.

One column per target spec (`spec.score_column`); the reasons explain the advocate score
(why this contact is likely to say yes). Models are duck-typed: anything with
`predict_proba(X)` and `contributions(X)`, e.g. `advocacy.models.tracking.Champion.model`.
The published tables built from these scores are `advocacy.pipelines.outputs`' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from advocacy.features import registry
from advocacy.models.reasons import top_reasons
from advocacy.models.targets import ADVOCATE, TARGETS, TargetSpec
from advocacy.settings import Settings


class ScoringModel(Protocol):
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...
    def contributions(self, X: pd.DataFrame) -> pd.DataFrame: ...


def score_columns(specs: Sequence[TargetSpec] = TARGETS) -> list[str]:
    """contact_id, account_id, one score column per target, reasons."""
    return ["contact_id", "account_id", *(s.score_column for s in specs), "reasons"]


def score_population(
    frame: pd.DataFrame,
    models: Mapping[str, ScoringModel],
    settings: Settings,
    *,
    explained: TargetSpec = ADVOCATE,
    chunk_rows: int = 250_000,
) -> pd.DataFrame:
    """One row per scoring row: ids, each target's score, and reasons for `explained`'s.

    `models` maps a target's name to its model, for every spec in `TARGETS`. Works in chunks
    so contributions and reason text for a million contacts stay small.
    """
    missing = [s.name for s in TARGETS if s.name not in models]
    if missing:
        raise KeyError(f"no model for target(s) {', '.join(missing)}")
    parts = [
        _score_chunk(frame.iloc[i : i + chunk_rows], models, settings, explained)
        for i in range(0, len(frame), chunk_rows)
    ]
    if not parts:
        return pd.DataFrame(columns=score_columns())
    return pd.concat(parts, ignore_index=True)


def _score_chunk(
    chunk: pd.DataFrame,
    models: Mapping[str, ScoringModel],
    settings: Settings,
    explained: TargetSpec,
) -> pd.DataFrame:
    X = chunk[registry.feature_names()]
    out = {
        "contact_id": chunk["contact_id"].to_numpy(),
        "account_id": chunk["account_id"].to_numpy(),
    }
    for spec in TARGETS:
        out[spec.score_column] = np.asarray(models[spec.name].predict_proba(X), dtype=float)
    contrib = models[explained.name].contributions(X)
    out["reasons"] = top_reasons(contrib, X, settings.ranking.reasons_per_contact)
    return pd.DataFrame(out)
