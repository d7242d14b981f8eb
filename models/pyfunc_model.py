"""The logged model: raw feature columns in (categoricals as text), calibrated probability out.

This file is also the registered model's code (MLflow models-from-code): it imports only
third-party packages, never `advocacy`, so a registered version loads and serves in any
environment built from its logged requirements (`REQUIREMENTS`). The fitted state travels as
artifacts, written by `AdvocacyModel.save_artifacts` and read back by `load_context`.

A model is one of two kinds (`model.json` `"kind"`; absent in format 1 = `lightgbm`):

- `lightgbm`: `booster.txt` (the booster's text model, cut at the best iteration),
  `calibration.pkl` (the calibrator's fitted 1-D maps, scikit-learn objects only) and
  `model.json` (target, feature list, category encoder);
- `nps_rule`: the small-data fallback ranker (`advocacy.models.fallback` builds it): a clipped
  linear rule on one column and a sigmoid map over its log-odds, all numbers in `model.json`.
  Its contributions put the rule's log-odds minus the base's on the rule's column, the base's
  log-odds on `bias`, and 0 elsewhere, so reasons work as for the booster.

Training evaluates exactly the object that is logged: the in-memory model scores through a
text round trip of its booster and the same calibration maps, so the registry reproduces it.

MLflow signatures cannot carry pandas `category` columns, and LightGBM refuses text, so the
model owns a small encoder that maps each categorical's text values to stable integer codes
learnt on the fit slice (unknown or missing text -> NaN, which LightGBM treats as missing).
Training and every later scoring job go through the same `encode`, so they cannot drift.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd

BIAS_COLUMN = "bias"
# Distributions this file (and unpickling its calibration maps) needs; pinned when logged.
REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "scipy", "pandas", "numpy")
CODE_FILE = Path(__file__)
BOOSTER_ARTIFACT, CALIBRATION_ARTIFACT, SPEC_ARTIFACT = "booster", "calibration", "model"
ARTIFACT_FILES = {
    BOOSTER_ARTIFACT: "booster.txt",
    CALIBRATION_ARTIFACT: "calibration.pkl",
    SPEC_ARTIFACT: "model.json",
}
# Format 1: LightGBM only, no "kind". Format 2 adds "kind" (and the `nps_rule` kind). An older
# copy of this file refuses format 2 by name instead of looking for a booster that is not there.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
KIND_LIGHTGBM, KIND_NPS_RULE = "lightgbm", "nps_rule"


class FeatureColumnsError(KeyError):
    """The input lacks feature columns the model was trained on (e.g. a schema change)."""


def is_feature_columns_error(exc: BaseException) -> bool:
    """True for a `FeatureColumnsError` from any copy of this file.

    A model loaded from the registry runs its own logged copy of this file, whose classes are
    not the package's: match by class name, not identity.
    """
    return any(cls.__name__ == FeatureColumnsError.__name__ for cls in type(exc).__mro__)


@dataclass(frozen=True, eq=False)
class CategoryEncoder:
    """Text -> stable int code per categorical column; codes follow the sorted fit-slice values."""

    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str]) -> CategoryEncoder:
        cats = {c: tuple(sorted(frame[c].dropna().astype(str).unique())) for c in columns}
        return cls(categories=cats)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy with every categorical column replaced by float codes (NaN when unknown)."""
        columns = {c: self.codes(frame[c]) if c in self.categories else frame[c] for c in frame}
        return pd.DataFrame(columns, index=frame.index)

    def codes(self, column: pd.Series) -> np.ndarray:
        """Float codes of one categorical column (NaN: missing or never seen in the fit slice)."""
        text = column.astype(object).where(column.notna(), None)
        codes = pd.Categorical(text, categories=list(self.categories[column.name])).codes
        codes = codes.astype("float64")
        codes[codes < 0] = np.nan  # -1: missing or unknown
        return codes

    def to_dict(self) -> dict[str, list[str]]:
        return {c: list(v) for c, v in self.categories.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, list[str]]) -> CategoryEncoder:
        return cls(categories={c: tuple(v) for c, v in raw.items()})

    def __eq__(self, other: object) -> bool:
        """Same categories, whichever copy of this file (package or loaded model) built it."""
        if type(other).__name__ != type(self).__name__:
            return NotImplemented
        return self.categories == getattr(other, "categories", None)

    __hash__ = None  # type: ignore[assignment]  # mutable-dict field: not hashable


def booster_copy(classifier: Any) -> lgb.Booster:
    """The fitted booster through its text model, as logged: trees up to the best iteration."""
    return lgb.Booster(model_str=classifier.booster_.model_to_string())


def calibration_maps(calibrator: Any) -> list[Any]:
    """The 1-D maps (sigmoid or isotonic) of a fitted binary `CalibratedClassifierCV`."""
    maps = []
    for member in calibrator.calibrated_classifiers_:
        if len(member.calibrators) != 1 or member.method not in ("sigmoid", "isotonic"):
            raise ValueError(f"unsupported calibration: {member.method}, binary targets only")
        maps.append(member.calibrators[0])
    return maps


def calibrated_on_raw_score(classifier: Any) -> bool:
    """scikit-learn calibrates `decision_function` (LightGBM >= 4.7: the raw margin) when the
    classifier has one, else `predict_proba`: the maps expect the same input when scoring."""
    return hasattr(classifier, "decision_function")


def calibrate(maps: Sequence[Any], scores: np.ndarray) -> np.ndarray:
    """Mean of the members' calibrated probabilities, as `CalibratedClassifierCV` computes it."""
    proba = np.zeros(len(scores))
    for one in maps:
        proba += one.predict(scores)
    proba /= len(maps)
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0  # as sklearn: rounding just above 1
    return proba


@dataclass(frozen=True)
class Scorer:
    """What scores: the booster (text round trip) and the calibration maps over its output."""

    booster: lgb.Booster
    maps: list[Any]
    raw_score: bool  # the maps take the booster's raw margin (else its probability)

    @classmethod
    def of(cls, classifier: Any, calibrator: Any) -> Scorer:
        return cls(
            booster_copy(classifier),
            calibration_maps(calibrator),
            calibrated_on_raw_score(classifier),
        )

    def proba(self, encoded: pd.DataFrame) -> np.ndarray:
        return calibrate(self.maps, self.booster.predict(encoded, raw_score=self.raw_score))


ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: |x| <= this is "zero" for missing_type Zero
DENSE_PATTERN_NODES = 20  # up to 2^20 split patterns per tree are indexed by a dense table
MAX_PATTERN_NODES = 62  # beyond, a tree's patterns no longer fit one int64: plain pred_contrib


def tree_contributions(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    """LightGBM `pred_contrib` of float rows `X`, computed once per distinct split pattern.

    Path-dependent TreeSHAP reads a row only through the side it takes at each split of a
    tree, so rows that take the same sides at every split of a tree get the same values for
    it. With 15-leaf trees a tree has at most 2^14 patterns however many rows are scored:
    at 1M contacts (550k explained rows, 99 trees) this is several times faster than one call
    over every row (docs/benchmarks.md). Per tree, one row per pattern goes through
    LightGBM's own `pred_contrib` (`start_iteration=t, num_iteration=1`) and its values are
    added to the rows sharing it, in tree order: the result equals one call up to the order
    of floating-point additions (~1e-15). The split rules are LightGBM's (`_goes_left`); as a
    guard every row's contributions must add up to its raw score, else (and for a model that
    is not one binary tree per iteration) this falls back to one plain call.
    """
    trees = booster.dump_model()["tree_info"]
    n, n_features = X.shape
    if len(trees) != booster.num_trees() or booster.num_model_per_iteration() != 1:
        return booster.predict(X, pred_contrib=True)
    columns = _Columns(X)
    out = np.zeros((n, n_features + 1), order="F")  # per-tree updates touch a few columns
    for t, tree in enumerate(trees):
        splits = _splits(tree["tree_structure"])
        if len(splits) > MAX_PATTERN_NODES:
            return booster.predict(X, pred_contrib=True)
        codes = np.zeros(n, dtype=np.int32 if len(splits) < 31 else np.int64)
        for bit, node in enumerate(splits):
            codes |= _goes_left(node, columns).astype(codes.dtype) << bit
        first, inverse = _patterns(codes, len(splits))
        values = booster.predict(X[first], pred_contrib=True, start_iteration=t, num_iteration=1)
        used = sorted({int(node["split_feature"]) for node in splits} | {n_features})
        out[:, used] += values[:, used][inverse]
    out = np.ascontiguousarray(out)
    if not np.allclose(out.sum(axis=1), booster.predict(X, raw_score=True), rtol=0, atol=1e-9):
        return booster.predict(X, pred_contrib=True)
    return out


class _Columns:
    """Per feature, computed once for all the splits on it: NaN mask, NaN -> 0 values, codes."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def get(self, kind: str, f: int) -> np.ndarray:
        key = (kind, f)
        if key not in self._cache:
            v = self.X[:, f]
            if kind == "nan":
                self._cache[key] = np.isnan(v)
            elif kind == "filled":
                self._cache[key] = np.where(self.get("nan", f), 0.0, v)
            elif kind == "zero":
                self._cache[key] = np.abs(self.get("filled", f)) <= ZERO_THRESHOLD
            else:  # "code": categorical codes, -1 for NaN and negatives (they go right)
                codes = np.where(self.get("nan", f), -1, v).astype(np.int64)
                self._cache[key] = np.where(codes < 0, -1, codes)
        return self._cache[key]


def _splits(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The tree's split nodes (every one decides a bit of a row's pattern)."""
    if "leaf_index" in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]


def _goes_left(node: dict[str, Any], columns: _Columns) -> np.ndarray:
    """LightGBM's split rule (tree.h NumericalDecision / CategoricalDecision) for every row."""
    f = node["split_feature"]
    if node["decision_type"] == "==":
        left = np.array([int(c) for c in str(node["threshold"]).split("||")])
        return np.isin(columns.get("code", f), left)
    kind = node["missing_type"]
    if kind == "NaN":
        with np.errstate(invalid="ignore"):
            below = columns.X[:, f] <= node["threshold"]  # False for NaN
        return below | columns.get("nan", f) if node["default_left"] else below
    below = columns.get("filled", f) <= node["threshold"]
    if kind == "Zero":
        zero = columns.get("zero", f)
        return below | zero if node["default_left"] else below & ~zero
    return below


def _patterns(codes: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(a row of each distinct code, each row's position among them); any row of a code
    stands for all of them."""
    if bits <= DENSE_PATTERN_NODES:
        first_of = np.full(1 << bits, -1, dtype=np.int64)
        first_of[codes] = np.arange(len(codes))
        present = np.flatnonzero(first_of >= 0)
        slot = np.zeros(1 << bits, dtype=np.int64)
        slot[present] = np.arange(len(present))
        return first_of[present], slot[codes]
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class RuleScorer:
    """A clipped linear rule on one column, p = clip(offset + scale * x) (unknown x: `missing`),
    then a sigmoid map over its log-odds: proba = 1 / (1 + exp(-(slope * logit(p) + intercept))).

    Plain numbers only, so the rule needs no pickle. Which rule and which numbers is decided
    where it is built (`advocacy.models.fallback`), not here.
    """

    column: str
    offset: float
    scale: float
    low: float
    high: float
    missing: float
    slope: float
    intercept: float

    def rule(self, X: pd.DataFrame) -> np.ndarray:
        x = pd.to_numeric(X[self.column], errors="coerce").to_numpy(dtype=float)
        p = np.where(np.isnan(x), self.missing, self.offset + self.scale * x)
        return np.clip(p, self.low, self.high)

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """The rule's log-odds: the raw score the sigmoid map and the contributions work on."""
        return _logit(self.rule(X))

    def proba(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * self.raw(X) + self.intercept)))

    def contributions(self, X: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
        """Rule log-odds minus the base's on `column`, the base's on `bias`, 0 elsewhere."""
        bias = float(_logit(np.clip(self.missing, self.low, self.high)))
        out = pd.DataFrame(0.0, index=X.index, columns=[*features, BIAS_COLUMN])
        out[self.column] = self.raw(X) - bias
        out[BIAS_COLUMN] = bias
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RuleScorer:
        values = {k: raw[k] for k in cls.__dataclass_fields__}
        return cls(**{k: v if k == "column" else float(v) for k, v in values.items()})


class AdvocacyModel(mlflow.pyfunc.PythonModel):
    """Booster + calibration maps + encoder + feature list (or a `RuleScorer`), as one pyfunc.

    Built three ways: by training (`classifier` = the fitted LGBMClassifier, `calibrator` = the
    fitted `CalibratedClassifierCV`; both may be set after construction), by the fallback
    (`rule` = a `RuleScorer`), or empty by MLflow and filled by `load_context` from the logged
    artifacts. A booster model scores through one `Scorer`, a rule model through its rule.
    """

    _scorer: Scorer | None = None
    _source: tuple[Any, Any] | None = None  # the (classifier, calibrator) _scorer was built from
    rule: RuleScorer | None = None  # class default: versions pickled before kinds have none

    def __init__(
        self,
        *,
        classifier: Any = None,
        calibrator: Any = None,
        encoder: CategoryEncoder | None = None,
        features: Sequence[str] = (),
        target: str = "",
        rule: RuleScorer | None = None,
    ) -> None:
        self.classifier = classifier
        self.calibrator = calibrator
        self.encoder = encoder if encoder is not None else CategoryEncoder()
        self.features = list(features)
        self.target = target
        self.rule = rule

    @property
    def kind(self) -> str:
        """`nps_rule` for a rule model, else `lightgbm` (the registry's `advocacy.ranker`)."""
        return KIND_NPS_RULE if self.rule is not None else KIND_LIGHTGBM

    def scorer(self) -> Scorer:
        """The scorer of the fitted objects (rebuilt when they are replaced), or the loaded one."""
        if self.classifier is not None and self.calibrator is not None:
            source = self._source
            if (
                source is None
                or source[0] is not self.classifier
                or source[1] is not self.calibrator
            ):
                self._scorer = Scorer.of(self.classifier, self.calibrator)
                self._source = (self.classifier, self.calibrator)
        if self._scorer is None:
            raise RuntimeError("the model is neither fitted nor loaded")
        return self._scorer

    def _check_columns(self, X: pd.DataFrame) -> None:
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise FeatureColumnsError(f"input lacks feature columns: {missing}")

    def encode(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's numeric view of raw feature columns, in training order."""
        self._check_columns(X)
        cats = self.encoder.categories
        columns = {
            f: self.encoder.codes(X[f]) if f in cats else X[f].to_numpy(dtype="float64")
            for f in self.features
        }
        return pd.DataFrame(columns, index=X.index)  # one float block, one copy

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class, one per row."""
        if len(X) == 0:
            return np.empty(0, dtype=float)
        if self.rule is not None:
            self._check_columns(X)
            return self.rule.proba(X)
        return self.scorer().proba(self.encode(X))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Raw-score (log-odds) contributions per feature plus `bias`; rows sum to the raw score."""
        columns = [*self.features, BIAS_COLUMN]
        if len(X) == 0:
            return pd.DataFrame(columns=columns, index=X.index, dtype="float64")
        if self.rule is not None:
            self._check_columns(X)
            return self.rule.contributions(X, self.features)
        encoded = self.encode(X).to_numpy(dtype=np.float64)
        values = tree_contributions(self.scorer().booster, encoded)
        return pd.DataFrame(values, columns=columns, index=X.index)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """pyfunc entry point: raw feature columns -> calibrated probabilities."""
        return self.predict_proba(model_input)

    def save_artifacts(self, folder: Path) -> dict[str, str]:
        """Write the fitted state into `folder`; the `artifacts=` mapping for `log_model`."""
        spec: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "target": str(self.target),
            "features": self.features,
            "categories": self.encoder.to_dict(),
        }
        if self.rule is not None:  # a rule is all numbers: model.json only
            path = Path(folder) / ARTIFACT_FILES[SPEC_ARTIFACT]
            path.write_text(json.dumps({**spec, "rule": self.rule.to_dict()}, indent=1))
            return {SPEC_ARTIFACT: str(path)}
        scorer = self.scorer()
        paths = {name: Path(folder) / file for name, file in ARTIFACT_FILES.items()}
        paths[BOOSTER_ARTIFACT].write_text(scorer.booster.model_to_string())
        paths[CALIBRATION_ARTIFACT].write_bytes(pickle.dumps(scorer.maps))
        spec["calibrated_on_raw_score"] = scorer.raw_score
        paths[SPEC_ARTIFACT].write_text(json.dumps(spec, indent=1))
        return {name: str(path) for name, path in paths.items()}

    def load_context(self, context: Any) -> None:
        """Fill an empty model from the logged artifacts (`context.artifacts`: name -> path).

        A version pickled whole (before models-from-code) has no artifacts: it is already full.
        """
        if not getattr(context, "artifacts", None) and getattr(self, "classifier", None):
            return
        spec = json.loads(Path(context.artifacts[SPEC_ARTIFACT]).read_text())
        if spec.get("format") not in READABLE_FORMATS:
            raise ValueError(f"unknown model artifact format {spec.get('format')!r}")
        kind = spec.get("kind", KIND_LIGHTGBM)  # format 1 knew one kind only
        if kind not in (KIND_LIGHTGBM, KIND_NPS_RULE):
            raise ValueError(f"unknown model kind {kind!r}")
        self.target, self.features = spec["target"], list(spec["features"])
        self.encoder = CategoryEncoder.from_dict(spec["categories"])
        if kind == KIND_NPS_RULE:
            self.rule = RuleScorer.from_dict(spec["rule"])
            return
        self.rule = None
        paths = {name: Path(context.artifacts[name]) for name in ARTIFACT_FILES}
        self._scorer = Scorer(
            booster=lgb.Booster(model_str=paths[BOOSTER_ARTIFACT].read_text()),
            maps=pickle.loads(paths[CALIBRATION_ARTIFACT].read_bytes()),  # sklearn objects only
            raw_score=bool(spec["calibrated_on_raw_score"]),
        )


if not __package__:  # run on its own, by MLflow loading the logged model: declare the model
    mlflow.models.set_model(AdvocacyModel())
