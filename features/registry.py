"""Every model feature: its name, family, dtype, and the plain words used to explain it.

Reasons shown to marketers are built from `REASON_GROUPS`: features that express one
idea (latest NPS score and how long ago it was given) share a group, so an idea is
said once, in one sentence, with the contact's actual values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Family = Literal["nps", "usage", "support", "account", "contact", "advocacy"]
DType = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: Family
    dtype: DType
    group: str  # reason group: one idea, one sentence
    description: str


@dataclass(frozen=True)
class ReasonGroup:
    """A sentence template rendered with the row's feature values (str.format syntax).

    `needs` lists the features that must be known (not null) for the sentence to make sense.
    """

    name: str
    template: str
    needs: tuple[str, ...]


# Filled in by the features issue; see features/build.py for how each is computed.
FEATURES: tuple[FeatureSpec, ...] = ()
REASON_GROUPS: dict[str, ReasonGroup] = {}


def feature_names() -> list[str]:
    return [f.name for f in FEATURES]


def categorical_features() -> list[str]:
    return [f.name for f in FEATURES if f.dtype == "categorical"]


def numeric_features() -> list[str]:
    return [f.name for f in FEATURES if f.dtype == "numeric"]


def spec(name: str) -> FeatureSpec:
    return next(f for f in FEATURES if f.name == name)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def render_reason(group: str, values: Mapping[str, Any]) -> str | None:
    """The group's sentence for one contact, or None when a needed value is unknown."""
    reason = REASON_GROUPS[group]
    if any(_is_missing(values.get(n)) for n in reason.needs):
        return None
    return reason.template.format_map(_Words(values))


class _Words(dict):
    """format_map helper: numbers read naturally ('3', '12', '40%')."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
