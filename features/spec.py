"""One model feature, declared once: its name, SQL formula, dtype, reason group and meaning.

Each family module (`features/nps.py`, `usage.py`, ...) holds `FEATURES: tuple[Feature, ...]`
and builds its query's SELECT from it (`select_sql`), so a name can never drift from its
formula; `features.registry` lists the families' features in a fixed order. A feature's
windows are part of its name and formula (`usage_events_30d` counts 30 days): a different
window is a different feature, declared as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Family = Literal["nps", "usage", "support", "account", "contact", "advocacy", "peers"]
DType = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Feature:
    """A feature column of every frame.

    formula: the SQL expression that computes the value in the family's final SELECT (over
    the columns its query prepares); numeric values are cast to DOUBLE there. Empty only in
    hand-made specs of tests, which never run SQL.
    """

    name: str
    family: Family
    dtype: DType
    group: str  # reason group (features.registry.REASON_GROUPS): one idea, one sentence
    description: str
    formula: str = ""


def feature(
    family: Family,
    name: str,
    formula: str,
    group: str,
    description: str,
    dtype: DType = "numeric",
) -> Feature:
    """A family's declaration, in reading order: name, formula, reason group, meaning."""
    return Feature(name, family, dtype, group, description, formula)


def select_sql(features: Iterable[Feature]) -> str:
    """The SELECT list `formula AS name` of `features` (numeric ones as DOUBLE)."""
    columns = []
    for f in features:
        value = f"CAST({f.formula} AS DOUBLE)" if f.dtype == "numeric" else f.formula
        columns.append(f"{value} AS {f.name}")
    return ", ".join(columns)
