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
from threadpoolctl import threadpool_limits

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
    explain_mask: np.ndarray | pd.Series | None = None,
    chunk_rows: int = 250_000,
    reference_mask: np.ndarray | pd.Series | None = None,
    reference_rows: int = REFERENCE_ROWS,
) -> pd.DataFrame:
    """One row per scoring row: ids, each target's score, and reasons for `explained`'s.

    `models` maps a target's name to its model, for every spec in `TARGETS`. Reasons cost a
    TreeSHAP pass per row, so only the rows `explain_mask` marks get them (default: all; the
    weekly job: the eligible, whom the list picks among); the others get `reasons` = None.
    Reasons are relative to the typical contribution over the rows `reference_mask` marks
    (default all), from a fixed sample of at most `reference_rows` of them; a row's reasons do
    not depend on which other rows are explained. LightGBM uses `training.num_threads`.
    """
    missing = [s.name for s in TARGETS if s.name not in models]
    if missing:
        raise KeyError(f"no model for target(s) {', '.join(missing)}")
    explain = _mask(explain_mask, len(frame))
    ref_rows = reference_sample(_mask(reference_mask, len(frame)), reference_rows)
    with threadpool_limits(limits=settings.training.num_threads or None):
        out = _scores(frame, models, chunk_rows)
        out["reasons"] = _reasons(
            frame, models[explained.name], explain, ref_rows, settings, chunk_rows
        )
    return out[score_columns()]


def _mask(mask: np.ndarray | pd.Series | None, n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


def reference_sample(mask: np.ndarray, max_rows: int = REFERENCE_ROWS, seed: int = 0) -> np.ndarray:
    """Positions of the reference rows: all marked rows up to `max_rows`, else a seeded sample.

    A median from 50,000 rows is within a few hundredths of a standard deviation of the full
    one, so a million contacts cost one extra 5% of contributions, not a second full pass.
    """
    rows = np.flatnonzero(mask)
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    return rows


def population_reference(
    frame: pd.DataFrame,
    model: ScoringModel,
    mask: np.ndarray | pd.Series | None = None,
    max_rows: int = REFERENCE_ROWS,
    seed: int = 0,
) -> pd.Series | None:
    """Typical grouped contribution over the (masked) population; None when it is empty."""
    rows = reference_sample(_mask(mask, len(frame)), max_rows, seed)
    if len(rows) == 0:
        return None
    X = frame.iloc[rows][registry.feature_names()]
    return reference_contributions(group_contributions(model.contributions(X)))


def _scores(
    frame: pd.DataFrame, models: Mapping[str, ScoringModel], chunk_rows: int
) -> pd.DataFrame:
    """ids and every target's score, for every row."""
    out = pd.DataFrame(
        {"contact_id": frame["contact_id"].to_numpy(), "account_id": frame["account_id"].to_numpy()}
    )
    X = frame[registry.feature_names()]
    for spec in TARGETS:
        parts = [
            np.asarray(models[spec.name].predict_proba(X.iloc[i : i + chunk_rows]), dtype=float)
            for i in range(0, len(X), chunk_rows)
        ]
        out[spec.score_column] = np.concatenate(parts) if parts else np.empty(0)
    return out


def _reasons(
    frame: pd.DataFrame,
    model: ScoringModel,
    explain: np.ndarray,
    ref_rows: np.ndarray,
    settings: Settings,
    chunk_rows: int,
) -> np.ndarray:
    """Reason text for the explained rows (None elsewhere); one contributions pass per row.

    Contributions of explained rows are computed once and serve the reference too (in the
    weekly job the reference sample is drawn from the explained rows); only reference rows
    that are not explained cost an extra pass.
    """
    features = registry.feature_names()
    rows = np.flatnonzero(explain)
    texts = np.full(len(frame), None, dtype=object)
    if len(rows) == 0:
        return texts
    grouped = []
    contrib_parts = []
    for i in range(0, len(rows), chunk_rows):
        contrib = model.contributions(frame.iloc[rows[i : i + chunk_rows]][features])
        grouped.append(group_contributions(contrib).to_numpy())
        contrib_parts.append(contrib)
    reference = _reference(frame, model, rows, np.vstack(grouped), ref_rows, contrib_parts[0])
    n = settings.ranking.reasons_per_contact
    for i, contrib in zip(range(0, len(rows), chunk_rows), contrib_parts, strict=True):
        values = frame.iloc[rows[i : i + chunk_rows]][features]
        texts[rows[i : i + chunk_rows]] = top_reasons(contrib, values, n, reference=reference)
    return texts


def _reference(
    frame: pd.DataFrame,
    model: ScoringModel,
    explained_rows: np.ndarray,
    explained_grouped: np.ndarray,
    ref_rows: np.ndarray,
    like: pd.DataFrame,
) -> pd.Series | None:
    """The reference median over `ref_rows`, reusing the explained rows' contributions."""
    if len(ref_rows) == 0:
        return None
    names = list(group_contributions(like.iloc[:0]).columns)
    where = np.searchsorted(explained_rows, ref_rows)
    where = np.minimum(where, len(explained_rows) - 1)
    known = explained_rows[where] == ref_rows
    grouped = np.empty((len(ref_rows), len(names)))
    grouped[known] = explained_grouped[where[known]]
    if not known.all():
        X = frame.iloc[ref_rows[~known]][registry.feature_names()]
        grouped[~known] = group_contributions(model.contributions(X)).to_numpy()
    return reference_contributions(pd.DataFrame(grouped, columns=names))
