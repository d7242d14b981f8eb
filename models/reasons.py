"""Plain-word reasons from LightGBM contributions (`pred_contrib`).

Contributions of features that express one idea (a reason group in the feature registry)
are summed, so "latest NPS" and "days since NPS" become one sentence. A reason is a driver
that sets the contact apart: the group's contribution minus the population's typical one
(`reference_contributions`, the median), so a trait everyone shares is nobody's reason. The
strongest relative drivers above `MIN_RELATIVE` are rendered with the contact's own values.
"""

from __future__ import annotations

from string import Formatter

import numpy as np
import pandas as pd

from advocacy.features import registry

SEPARATOR = "; "
# Log-odds a group must add above the population's typical contribution to be a reason.
MIN_RELATIVE = 0.05


def group_contributions(contrib: pd.DataFrame) -> pd.DataFrame:
    """Sum per-feature contributions into reason groups (columns = group names)."""
    groups = {f.name: f.group for f in registry.FEATURES if f.name in contrib.columns}
    names = sorted(set(groups.values()))
    member = np.zeros((len(groups), len(names)))
    col_of = {g: i for i, g in enumerate(names)}
    feats = list(groups)
    for i, feat in enumerate(feats):
        member[i, col_of[groups[feat]]] = 1.0
    summed = contrib[feats].to_numpy(dtype=float) @ member
    return pd.DataFrame(summed, columns=names, index=contrib.index)


def reference_contributions(grouped: pd.DataFrame) -> pd.Series:
    """The population's typical contribution per group: the median, not the mean.

    Most groups are zero-inflated (no tickets, no invites); the median is what the typical
    contact gets, so sharing it is worth 0, whereas the mean would credit the majority for
    not being the minority.
    """
    return grouped.median(axis=0)


def top_reasons(
    contrib: pd.DataFrame,
    values: pd.DataFrame,
    top_n: int,
    *,
    reference: pd.Series | None = None,
    min_contribution: float = MIN_RELATIVE,
) -> list[str]:
    """For each row, the `top_n` strongest relative drivers, joined by '; '.

    A group's score is its contribution minus `reference` (the population's, see
    `reference_contributions`; None: absolute contributions). Groups whose sentence can't be
    rendered (a needed value unknown) or would state only zeros (`ReasonGroup.nonzero`) are
    skipped and the next strongest takes their place. Selection is vectorised; only the chosen
    (row, group) pairs are rendered, from just the columns their template uses.
    """
    grouped = group_contributions(contrib)
    names = list(grouped.columns)
    scores = grouped.to_numpy(copy=True)
    if reference is not None:
        scores -= reference.reindex(names).fillna(0.0).to_numpy(dtype=float)
    scores[~_sayable(values, names)] = -np.inf
    scores[scores <= min_contribution] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, : min(top_n, len(names))]
    chosen = np.take_along_axis(scores, top, axis=1) > -np.inf
    texts = np.full(top.shape, "", dtype=object)
    for j, group in enumerate(names):
        rows, slots = np.nonzero((top == j) & chosen)
        if len(rows):
            texts[rows, slots] = _render(group, values.iloc[rows][_template_fields(group)])
    return _joined(texts)


def _joined(texts: np.ndarray) -> list[str]:
    """Each row's non-empty sentences joined by SEPARATOR, column by column (no Python loop
    over rows: 0.9 s for 550k rows x 3 sentences before)."""
    if texts.shape[1] == 0:
        return [""] * len(texts)
    out = texts[:, 0].copy()
    for j in range(1, texts.shape[1]):
        col = texts[:, j]
        has_out, has_col = out != "", col != ""
        both = has_out & has_col
        out[both] = out[both] + SEPARATOR + col[both]
        out[~has_out & has_col] = col[~has_out & has_col]
    return out.tolist()


def _render(group: str, fields: pd.DataFrame) -> np.ndarray:
    """The group's sentence per row, rendered once per distinct combination of its values
    (most sentences repeat: counts and rounded amounts), then spread back to the rows."""
    if fields.shape[1] == 0:
        return np.full(len(fields), registry.render_reason(group, {}) or "", dtype=object)
    by_field = registry.render_reasons(group, fields)
    if by_field is not None:
        return by_field
    codes = fields.groupby(list(fields.columns), dropna=False, sort=False).ngroup().to_numpy()
    distinct = fields.drop_duplicates().to_dict("records")  # in order of first appearance
    sentences = np.array([registry.render_reason(group, r) or "" for r in distinct], dtype=object)
    return sentences[codes]


def _sayable(values: pd.DataFrame, names: list[str]) -> np.ndarray:
    """rows x groups: every needed value known, not all of `nonzero` zero, `at_least` met."""
    ok = np.ones((len(values), len(names)), dtype=bool)
    for j, group in enumerate(names):
        spec = registry.REASON_GROUPS[group]
        if spec.needs:
            ok[:, j] &= values[list(spec.needs)].notna().all(axis=1).to_numpy()
        if spec.nonzero:
            amounts = values[list(spec.nonzero)].apply(pd.to_numeric, errors="coerce")
            ok[:, j] &= (amounts.fillna(0.0) != 0).any(axis=1).to_numpy()
        for column, minimum in spec.at_least:
            ok[:, j] &= (pd.to_numeric(values[column], errors="coerce") >= minimum).to_numpy()
    return ok


def _template_fields(group: str) -> list[str]:
    fields = Formatter().parse(registry.REASON_GROUPS[group].template)
    return sorted({name.split(".")[0].split("[")[0] for _, name, _, _ in fields if name})
