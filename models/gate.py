"""The champion gate as a pure function: numbers in, a decision and its plain-text reason out.

Nothing here touches MLflow. `models/tracking.py` loads the current champion, scores it on the
NEW holdout rows and hands the result here as one of:

- `None`: there is no champion yet -> promote;
- `ChampionScore`: the champion's AUC and log loss on the new holdout -> compare (below).
  A champion refit on every closed row at an earlier T has learnt from most of the new
  holdout (its `advocacy.trained_until` tag falls inside it): its own recorded holdout
  numbers stand in (`basis` says so; `tracking.evaluate_champion`), since scoring it on rows
  it saw against a holdout model that did not would keep every champion forever;
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

Rankers (`models/fallback.py`): a version carries LightGBM or, when the holdout did not trust
the model, the calibrated NPS rule (`nps_rule`). The gate does not care which: `new` holds the
numbers of the ranker the new version carries, the champion is scored on the same holdout rows
whatever it carries, and the same comparison decides. So a fallback never displaces a better
LightGBM champion, and a LightGBM model replaces a rule champion only by doing as well on the
rows at hand. The decision text names both rankers when either is not LightGBM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from advocacy.settings import Settings

Kind = Literal["no_champion", "beats_champion", "keeps_champion", "champion_cannot_evaluate"]
LIGHTGBM = "lightgbm"  # the default ranker (pyfunc_model.KIND_LIGHTGBM)


@dataclass(frozen=True)
class ChampionScore:
    """The current champion scored on the new holdout rows."""

    version: int
    auc: float
    log_loss: float
    ranker: str = LIGHTGBM  # what the champion ranks with
    basis: str = "the new holdout"  # which rows (or record) the champion's numbers come from

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
    new: Mapping[str, float],
    champion: Mapping[str, float],
    settings: Settings,
    basis: str = "the new holdout",
) -> tuple[bool, str]:
    """AUC may drop at most auc_tolerance, log loss may rise at most logloss_tolerance."""
    tol = settings.promotion
    auc_ok = new["auc"] >= champion["auc"] - tol.auc_tolerance
    loss_ok = new["log_loss"] <= champion["log_loss"] + tol.logloss_tolerance
    detail = (
        f"AUC {new['auc']:.4f} vs champion {champion['auc']:.4f} (tolerance {tol.auc_tolerance}), "
        f"log loss {new['log_loss']:.4f} vs champion {champion['log_loss']:.4f} "
        f"(tolerance {tol.logloss_tolerance}) on {basis}"
    )
    if auc_ok and loss_ok:
        return True, f"beats or matches the champion: {detail}"
    failed = " and ".join(n for n, ok in (("AUC", auc_ok), ("log loss", loss_ok)) if not ok)
    return False, f"kept the champion: {failed} worse; {detail}"


def _rankers(new_ranker: str, champion_ranker: str) -> str:
    """' (new nps_rule vs champion lightgbm)' when either is not LightGBM, else ''."""
    if new_ranker == champion_ranker == LIGHTGBM:
        return ""
    return f" (new {new_ranker} vs champion {champion_ranker})"


def decide(
    new: Mapping[str, float],
    champion: ChampionScore | CannotEvaluate | None,
    settings: Settings,
    *,
    new_ranker: str = LIGHTGBM,
) -> GateDecision:
    """The gate. `new` holds the new version's holdout `auc` and `log_loss`: the numbers of the
    ranker it carries (`new_ranker`)."""
    if champion is None:
        text = "no champion yet: promoted" + ("" if new_ranker == LIGHTGBM else f" ({new_ranker})")
        return GateDecision(True, "no_champion", text, None, None)
    if isinstance(champion, CannotEvaluate):
        text = (
            f"champion v{champion.version} could not score the new holdout ({champion.reason}): "
            "promoted in its place"
        )
        return GateDecision(True, "champion_cannot_evaluate", text, champion.version, None)
    if not isinstance(champion, ChampionScore):
        raise TypeError(f"champion must be ChampionScore, CannotEvaluate or None: {champion!r}")
    promoted, text = compare(new, champion.metrics(), settings, champion.basis)
    kind: Kind = "beats_champion" if promoted else "keeps_champion"
    text = f"v{champion.version}: {text}{_rankers(new_ranker, champion.ranker)}"
    return GateDecision(promoted, kind, text, champion.version, champion.metrics())
