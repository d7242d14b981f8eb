"""Plain-word reasons from LightGBM contributions (`pred_contrib`).

Contributions of features that express one idea (a reason group in the feature registry)
are summed, so "latest NPS" and "days since NPS" become one sentence. The strongest
positive groups are rendered with the contact's own values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import registry

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
    """For each row, the `top_n` strongest positive reasons as one '; '-joined sentence list.

    Groups whose sentence can't be rendered (a needed value unknown) are skipped, and the
    next strongest group takes their place.
    """
    grouped = group_contributions(contrib)
    names = np.array(grouped.columns)
    scores = grouped.to_numpy()
    order = np.argsort(-scores, axis=1, kind="stable")
    records = values.to_dict("records")
    out: list[str] = []
    for i, row in enumerate(records):
        sentences: list[str] = []
        for j in order[i]:
            if scores[i, j] <= min_contribution or len(sentences) == top_n:
                break
            text = registry.render_reason(names[j], row)
            if text:
                sentences.append(text)
        out.append(SEPARATOR.join(sentences))
    return out
