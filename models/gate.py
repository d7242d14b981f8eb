"""The champion gate as a pure function: numbers in, a decision and its plain-text reason out.

Nothing here touches MLflow. `models/tracking.py` loads the current champion, scores it on the
NEW holdout rows and hands the result here as one of:

- `None`: there is no champion yet -> promote;
- `ChampionScore`: the champion's AUC and log loss on the new holdout -> compare (below);
- `CannotEvaluate`: the champion truly cannot be evaluated on the new rows. Only two cases
  qualify, and the tracking code builds this value only for them:
  1. its input schema needs columns the new rows lack (`FeatureColumnsError`), or
  2. MLflow's schema enforcement rejects the new frame's column types.
  The new version then replaces it, and the decision says why.

Any other failure while loading or scoring the champion is NOT a reason to replace it: the
tracking code lets it propagate, the run fails and the registry's aliases stay untouched.

The comparison: the new version is promoted only if

    new AUC      >= champion AUC      - promotion.auc_tolerance
    new log loss <= champion log loss + promotion.logloss_tolerance
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from advocacy.settings import Settings

Kind = Literal["no_champion", "beats_champion", "keeps_champion", "champion_cannot_evaluate"]


@dataclass(frozen=True)
class ChampionScore:
    """The current champion scored on the new holdout rows."""

    version: int
    auc: float
    log_loss: float

    def metrics(self) -> dict[str, float]:
        return {"auc": self.auc, "log_loss": self.log_loss}


@dataclass(frozen=True)
class CannotEvaluate:
    """The champion cannot be evaluated on the new rows (one of the two documented cases)."""

    version: int
    reason: str  # e.g. "FeatureColumnsError: the new rows lack the champion's columns ['noise']"


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    kind: Kind
    text: str  # one line, stored as the `promotion.decision` tag
    champion_version: int | None  # the champion the new version was judged against
    champion_metrics: dict[str, float] | None  # its numbers on the new holdout, when scored


def compare(
    new: Mapping[str, float], champion: Mapping[str, float], settings: Settings
) -> tuple[bool, str]:
    """AUC may drop at most auc_tolerance, log loss may rise at most logloss_tolerance."""
    tol = settings.promotion
    auc_ok = new["auc"] >= champion["auc"] - tol.auc_tolerance
    loss_ok = new["log_loss"] <= champion["log_loss"] + tol.logloss_tolerance
    detail = (
        f"AUC {new['auc']:.4f} vs champion {champion['auc']:.4f} (tolerance {tol.auc_tolerance}), "
        f"log loss {new['log_loss']:.4f} vs champion {champion['log_loss']:.4f} "
        f"(tolerance {tol.logloss_tolerance}) on the new holdout"
    )
    if auc_ok and loss_ok:
        return True, f"beats or matches the champion: {detail}"
    failed = " and ".join(n for n, ok in (("AUC", auc_ok), ("log loss", loss_ok)) if not ok)
    return False, f"kept the champion: {failed} worse; {detail}"


def decide(
    new: Mapping[str, float],
    champion: ChampionScore | CannotEvaluate | None,
    settings: Settings,
) -> GateDecision:
    """The gate. `new` holds the new version's holdout `auc` and `log_loss`."""
    if champion is None:
        return GateDecision(True, "no_champion", "no champion yet: promoted", None, None)
    if isinstance(champion, CannotEvaluate):
        text = (
            f"champion v{champion.version} could not score the new holdout ({champion.reason}): "
            "promoted in its place"
        )
        return GateDecision(True, "champion_cannot_evaluate", text, champion.version, None)
    if not isinstance(champion, ChampionScore):
        raise TypeError(f"champion must be ChampionScore, CannotEvaluate or None: {champion!r}")
    promoted, text = compare(new, champion.metrics(), settings)
    kind: Kind = "beats_champion" if promoted else "keeps_champion"
    return GateDecision(
        promoted, kind, f"v{champion.version}: {text}", champion.version, champion.metrics()
    )
