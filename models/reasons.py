"""Plain-word reasons from LightGBM contributions (`pred_contrib`).

Contributions of features that express one idea (a reason group in the feature registry)
are summed, so "latest NPS" and "days since NPS" become one sentence. The strongest
positive groups are rendered with the contact's own values.
"""

from __future__ import annotations

from string import Formatter

import numpy as np
import pandas as pd

from advocacy.features import registry

SEPARATOR = "; "


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


def top_reasons(
    contrib: pd.DataFrame, values: pd.DataFrame, top_n: int, *, min_contribution: float = 0.0
) -> list[str]:
    """For each row, the `top_n` strongest positive reasons, joined by '; '.

    Groups whose sentence can't be rendered (a needed value unknown) are skipped and the next
    strongest takes their place. Selection is vectorised; only the chosen (row, group) pairs
    are rendered, from just the columns their template uses, so a million rows stay cheap.
    """
    grouped = group_contributions(contrib)
    names = list(grouped.columns)
    scores = grouped.to_numpy(copy=True)
    for j, group in enumerate(names):
        needs = list(registry.REASON_GROUPS[group].needs)
        if needs:
            scores[~values[needs].notna().all(axis=1).to_numpy(), j] = -np.inf
    scores[scores <= min_contribution] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, : min(top_n, len(names))]
    chosen = np.take_along_axis(scores, top, axis=1) > -np.inf
    texts = np.full(top.shape, "", dtype=object)
    for j, group in enumerate(names):
        rows, slots = np.nonzero((top == j) & chosen)
        if len(rows):
            records = values.iloc[rows][_template_fields(group)].to_dict("records")
            texts[rows, slots] = [registry.render_reason(group, r) or "" for r in records]
    return [SEPARATOR.join(t for t in row if t) for row in texts]


def _template_fields(group: str) -> list[str]:
    fields = Formatter().parse(registry.REASON_GROUPS[group].template)
    return sorted({name.split(".")[0].split("[")[0] for _, name, _, _ in fields if name})
