"""Score the population with the champion models, with plain-word reasons per contact.

One column per target spec (`spec.score_column`); the reasons explain the advocate score
(why this contact is likely to say yes), relative to the population's typical contribution.
Models are duck-typed: anything with
`predict_proba(X)` and `contributions(X)`, e.g. `advocacy.models.tracking.Champion.model`.
The published tables built from these scores are `advocacy.pipelines.outputs`' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from advocacy.features import registry
from advocacy.models.reasons import group_contributions, reference_contributions, top_reasons
from advocacy.models.targets import ADVOCATE, TARGETS, TargetSpec
from advocacy.settings import Settings


class ScoringModel(Protocol):
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...
    def contributions(self, X: pd.DataFrame) -> pd.DataFrame: ...


def score_columns(specs: Sequence[TargetSpec] = TARGETS) -> list[str]:
    """contact_id, account_id, one score column per target, reasons."""
    return ["contact_id", "account_id", *(s.score_column for s in specs), "reasons"]


# Rows of the population the reference contributions are computed on (a fixed sample beyond).
REFERENCE_ROWS = 50_000


def score_population(
    frame: pd.DataFrame,
    models: Mapping[str, ScoringModel],
    settings: Settings,
    *,
    explained: TargetSpec = ADVOCATE,
    chunk_rows: int = 250_000,
    reference_mask: np.ndarray | pd.Series | None = None,
    reference_rows: int = REFERENCE_ROWS,
) -> pd.DataFrame:
    """One row per scoring row: ids, each target's score, and reasons for `explained`'s.

    `models` maps a target's name to its model, for every spec in `TARGETS`. Reasons are
    relative to the typical contribution over the rows `reference_mask` marks (e.g. the
    eligible; default all), from a fixed sample of at most `reference_rows` of them. Works in
    chunks so contributions and reason text for a million contacts stay small.
    """
    missing = [s.name for s in TARGETS if s.name not in models]
    if missing:
        raise KeyError(f"no model for target(s) {', '.join(missing)}")
    reference = population_reference(frame, models[explained.name], reference_mask, reference_rows)
    parts = [
        _score_chunk(frame.iloc[i : i + chunk_rows], models, settings, explained, reference)
        for i in range(0, len(frame), chunk_rows)
    ]
    if not parts:
        return pd.DataFrame(columns=score_columns())
    return pd.concat(parts, ignore_index=True)


def population_reference(
    frame: pd.DataFrame,
    model: ScoringModel,
    mask: np.ndarray | pd.Series | None = None,
    max_rows: int = REFERENCE_ROWS,
    seed: int = 0,
) -> pd.Series | None:
    """Typical grouped contribution over the (masked) population; None when it is empty.

    Exact up to `max_rows` rows; beyond, a seeded sample of that size (a median from 50,000
    rows is within a few hundredths of a standard deviation of the full one), so a million
    contacts cost one extra 5% of contributions, not a second full pass.
    """
    keep = np.ones(len(frame), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        return None
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    X = frame.iloc[rows][registry.feature_names()]
    return reference_contributions(group_contributions(model.contributions(X)))


def _score_chunk(
    chunk: pd.DataFrame,
    models: Mapping[str, ScoringModel],
    settings: Settings,
    explained: TargetSpec,
    reference: pd.Series | None,
) -> pd.DataFrame:
    X = chunk[registry.feature_names()]
    out = {
        "contact_id": chunk["contact_id"].to_numpy(),
        "account_id": chunk["account_id"].to_numpy(),
    }
    for spec in TARGETS:
        out[spec.score_column] = np.asarray(models[spec.name].predict_proba(X), dtype=float)
    contrib = models[explained.name].contributions(X)
    n = settings.ranking.reasons_per_contact
    out["reasons"] = top_reasons(contrib, X, n, reference=reference)
    return pd.DataFrame(out)
