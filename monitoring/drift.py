"""Drift of model inputs and scores: compact profiles, and a comparison of two of them.

A run stores `profile(frame, columns)` (JSON, no rows, no personal data) so a later run can
compare its own rows with it without the old rows: `compare(reference, current)`. The tests
and thresholds are Evidently's defaults (docs/monitoring.md says why not Evidently itself):
Wasserstein distance normed by the reference std for numeric columns, Jensen-Shannon distance
for categorical ones and for numeric columns with few values; PSI is reported alongside for
ops. Everything is binned and vectorised: one sort per numeric column.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

log = logging.getLogger(__name__)

# Evidently's defaults (DataDriftPreset, large samples), in one home. They are definitions of
# "drifted", not knobs of a deployment, so they are constants rather than settings.
WASSERSTEIN_THRESHOLD = 0.1  # normed Wasserstein distance >= this: numeric column drifted
JENSENSHANNON_THRESHOLD = 0.1  # Jensen-Shannon distance (natural log) >= this: drifted
DATASET_DRIFT_SHARE = 0.5  # share of drifted columns >= this: the dataset drifted
FEW_VALUES = 5  # a numeric column with at most this many values is compared as categorical
STD_FLOOR = 0.001  # Evidently's floor for the reference std (a constant reference column)
NULL_SHIFT_THRESHOLD = 0.1  # ours: a numeric column whose null share moves this much drifted
PSI_EPSILON = 1e-4  # share given to an empty bin in PSI (Evidently's smoothing)

# Profile shape: quantile bins per numeric column; categories kept per categorical column.
N_BINS = 20  # 5% quantile bins; a column with at most N_BINS values keeps each value exact
MAX_CATEGORIES = 50  # the most frequent categories kept; the rest pooled into OTHER
MIN_CATEGORY_COUNT = 10  # a value seen fewer times is pooled into OTHER (never stored)
MISSING = "(missing)"
OTHER = "(other)"
PROFILE_VERSION = 1


# ---------------------------------------------------------------------------------- profile


def profile(
    frame: pd.DataFrame, columns: Sequence[str], categorical: Collection[str] = ()
) -> dict[str, Any]:
    """A JSON-serialisable summary of each column's distribution (no rows, no identifiers).

    Numeric columns: quantile bins (cuts, counts, bin means), mean, std, null share. Bool
    columns and those named in `categorical`: value shares, rare values pooled. Other columns
    (text, dates) are skipped and listed, so an id or an email can never be profiled by mistake.
    Columns absent from `frame` are listed under "absent".
    """
    return _profile_columns(frame, columns, categorical, {})[0]


def _profile_columns(
    frame: pd.DataFrame,
    columns: Sequence[str],
    categorical: Collection[str],
    ref_cols: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The profile, and the rows counted in the bins of `ref_cols` (for an exact PSI)."""
    out: dict[str, Any] = {"version": PROFILE_VERSION, "n_rows": len(frame), "columns": {}}
    skipped, absent, in_ref_bins = [], [], {}
    for name in columns:
        if name not in frame.columns:
            absent.append(name)
            continue
        series = frame[name]
        if name in categorical or pd.api.types.is_bool_dtype(series.dtype):
            out["columns"][name] = _categorical_profile(series)
        elif pd.api.types.is_numeric_dtype(series.dtype):
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            finite = np.sort(values[np.isfinite(values)])
            out["columns"][name] = _numeric_profile(finite, values.size)
            ref = ref_cols.get(name)
            if ref and ref["kind"] == "numeric" and ref["n"]:
                below = np.searchsorted(finite, np.asarray(ref["cuts"], dtype="float64"), "left")
                in_ref_bins[name] = np.diff(np.r_[0, below, finite.size]).astype("float64")
        else:
            skipped.append(name)
    if skipped:
        log.warning("drift profile skips non-numeric columns not declared categorical: %s", skipped)
    out["skipped"], out["absent"] = skipped, absent
    return out, in_ref_bins


def _numeric_profile(s: np.ndarray, size: int) -> dict[str, Any]:
    """Quantile bins of the sorted finite values `s` (of `size` rows, the rest null or inf).

    Bin j is [cut_j-1, cut_j), the first open below, the last open above; none is empty.
    """
    n = int(s.size)
    result: dict[str, Any] = {"kind": "numeric", "n": n, "null_share": _share(size - n, size)}
    if n == 0:
        return result | {"n_distinct": 0, "discrete": True, "cuts": [], "counts": [], "means": []}
    distinct = s[np.r_[True, s[1:] != s[:-1]]]
    discrete = distinct.size <= N_BINS
    cuts = distinct[1:] if discrete else _quantile_cuts(s)
    starts = np.r_[0, np.searchsorted(s, cuts, side="left")]
    counts = np.diff(np.r_[starts, n])
    means = np.add.reduceat(s, starts) / counts
    return result | {
        "n_distinct": int(distinct.size),
        "discrete": bool(discrete),
        "min": float(s[0]),
        "max": float(s[-1]),
        "mean": float(s.mean()),
        "std": float(s.std()),
        "cuts": cuts.tolist(),
        "counts": counts.tolist(),
        "means": distinct.tolist() if discrete else means.tolist(),
    }


def _quantile_cuts(s: np.ndarray) -> np.ndarray:
    """Data values at the quantiles of sorted `s`, above its minimum (so no bin is empty).

    A value holding a large share (the zeros of a count) gets a bin of its own: the next
    value above it is a cut too, so the tie's mass sits exactly at its value.
    """
    n = s.size
    picks = np.r_[s[0], s[(np.arange(1, N_BINS) * n) // N_BINS]]
    left, right = np.searchsorted(s, picks, "left"), np.searchsorted(s, picks, "right")
    heavy = right[(right - left >= n // (2 * N_BINS)) & (right < n)]
    cuts = np.unique(np.r_[picks, s[heavy]])
    return cuts[cuts > s[0]]


def _categorical_profile(series: pd.Series) -> dict[str, Any]:
    """Value shares; missing values are a category, rare and excess values pooled into OTHER."""
    keys = series.astype("object").where(series.notna(), MISSING).astype("str")
    counts = keys.value_counts(sort=True)
    keep = counts[(counts >= MIN_CATEGORY_COUNT) | (counts.index == MISSING)].iloc[:MAX_CATEGORIES]
    pooled = int(counts.sum() - keep.sum())
    shares = {str(k): _share(int(v), len(series)) for k, v in keep.items()}
    if pooled:
        shares[OTHER] = shares.get(OTHER, 0.0) + _share(pooled, len(series))
    return {"kind": "categorical", "n": len(series), "shares": shares}


def _share(part: int, whole: int) -> float:
    return float(part / whole) if whole else 0.0


# ---------------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class ColumnDrift:
    """One column's comparison; distance is None when one side has no value to compare."""

    column: str
    method: str  # "wasserstein" (normed) or "jensenshannon"
    distance: float | None
    psi: float | None
    drifted: bool
    null_share_reference: float = 0.0
    null_share_current: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "distance": _rounded(self.distance),
            "psi": _rounded(self.psi),
            "drifted": self.drifted,
            "method": self.method,
            "null_share_reference": _rounded(self.null_share_reference),
            "null_share_current": _rounded(self.null_share_current),
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift against one reference, and whether the dataset as a whole drifted."""

    columns: dict[str, ColumnDrift]
    missing: dict[str, str] = field(default_factory=dict)  # column -> "reference" | "current"
    label: str = ""  # what the reference is, e.g. "training window", "previous run"

    @property
    def drifted(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.drifted]

    @property
    def share(self) -> float:
        return _share(len(self.drifted), len(self.columns))

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.share >= DATASET_DRIFT_SHARE

    def to_dict(self) -> dict[str, Any]:
        """The summary for run.json / MLflow: counts, the verdict, one entry per column."""
        return {
            "label": self.label,
            "n_columns": len(self.columns),
            "n_drifted": len(self.drifted),
            "share": _rounded(self.share),
            "dataset_drift": self.dataset_drift,
            "drifted": self.drifted,
            "missing": dict(self.missing),
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
        }

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = [
            (c.column, c.method, _fmt(c.distance), _fmt(c.psi), "yes" if c.drifted else "no")
            for c in sorted(self.columns.values(), key=lambda c: (not c.drifted, c.column))
        ]
        rows += [(name, f"missing in {side}", "", "", "") for name, side in self.missing.items()]
        return rows

    def _title(self) -> str:
        what = f" vs {self.label}" if self.label else ""
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        return (
            f"Drift{what}: {len(self.drifted)} of {len(self.columns)} columns drifted ({verdict})"
        )

    def to_html(self) -> str:
        """A small table (drifted columns first); every value is escaped."""
        head = "".join(f"<th>{h}</th>" for h in _HEADERS)
        body = "".join(
            ('<tr class="drifted">' if row[4] == "yes" else "<tr>")
            + "".join(f"<td>{html.escape(v)}</td>" for v in row)
            + "</tr>"
            for row in self._rows()
        )
        return (
            f'<table class="drift"><caption>{html.escape(self._title())}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def to_markdown(self) -> str:
        """The same table in Markdown (a Prefect artifact); pipes and markup are escaped."""
        lines = [f"**{_md(self._title())}**", "", "| " + " | ".join(_HEADERS) + " |"]
        lines.append("|" + "---|" * len(_HEADERS))
        lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in self._rows()]
        return "\n".join(lines) + "\n"


_HEADERS = ("column", "method", "distance", "PSI", "drifted")


def compare(
    reference: Mapping[str, Any],
    current: pd.DataFrame | Mapping[str, Any],
    columns: Sequence[str] | None = None,
    label: str = "",
) -> DriftReport:
    """Drift of `current` (rows, or a stored profile) against a stored `reference` profile.

    `columns` defaults to the reference's (and, for a profile, the current's) columns; a
    column on one side only is reported under `missing`. Rows are profiled with the
    reference's column kinds first, so both sides are summarised by the same code.
    """
    ref_cols = reference["columns"]
    in_ref_bins: dict[str, np.ndarray] = {}
    if isinstance(current, pd.DataFrame):
        wanted = list(columns) if columns is not None else list(ref_cols)
        kinds = [c for c in wanted if ref_cols.get(c, {}).get("kind") == "categorical"]
        current, in_ref_bins = _profile_columns(current, wanted, kinds, ref_cols)
    cur_cols = current["columns"]
    names = list(columns) if columns is not None else list(dict.fromkeys([*ref_cols, *cur_cols]))
    results, missing = {}, {}
    for name in names:
        if name not in ref_cols or name not in cur_cols:
            missing[name] = "reference" if name not in ref_cols else "current"
            continue
        results[name] = _compare_column(name, ref_cols[name], cur_cols[name], in_ref_bins.get(name))
    return DriftReport(results, missing, label)


def _compare_column(
    name: str, ref: Mapping[str, Any], cur: Mapping[str, Any], in_ref_bins: np.ndarray | None
) -> ColumnDrift:
    if ref["kind"] == "categorical" or cur["kind"] == "categorical":
        ref_shares, cur_shares = _as_shares(ref), _as_shares(cur)
        return _categorical_drift(name, ref_shares, cur_shares)
    nulls = (ref["null_share"], cur["null_share"])
    null_drift = abs(nulls[1] - nulls[0]) >= NULL_SHIFT_THRESHOLD
    if ref["n"] == 0 or cur["n"] == 0:
        return ColumnDrift(
            name, "wasserstein", None, None, null_drift or ref["n"] != cur["n"], *nulls
        )
    if ref["n_distinct"] <= FEW_VALUES:
        drift = _categorical_drift(name, _value_shares(ref), _value_shares(cur))
        return ColumnDrift(
            name, drift.method, drift.distance, drift.psi, drift.drifted or null_drift, *nulls
        )
    distance = wasserstein_distance(ref["means"], cur["means"], ref["counts"], cur["counts"])
    distance /= max(ref["std"], STD_FLOOR)
    drifted = distance >= WASSERSTEIN_THRESHOLD or null_drift
    if in_ref_bins is None:
        in_ref_bins = _approx_counts_in_bins(cur, np.asarray(ref["cuts"], dtype="float64"))
    psi = _psi(np.asarray(ref["counts"], dtype="float64"), in_ref_bins)
    return ColumnDrift(name, "wasserstein", float(distance), psi, drifted, *nulls)


def _categorical_drift(
    name: str, ref: Mapping[str, float], cur: Mapping[str, float]
) -> ColumnDrift:
    keys = list(dict.fromkeys([*ref, *cur]))
    p = np.array([ref.get(k, 0.0) for k in keys])
    q = np.array([cur.get(k, 0.0) for k in keys])
    if p.sum() == 0 or q.sum() == 0:
        return ColumnDrift(name, "jensenshannon", None, None, p.sum() != q.sum())
    distance = float(jensenshannon(p, q))
    nulls = (ref.get(MISSING, 0.0), cur.get(MISSING, 0.0))
    return ColumnDrift(
        name, "jensenshannon", distance, _psi(p, q), distance >= JENSENSHANNON_THRESHOLD, *nulls
    )


def _as_shares(col: Mapping[str, Any]) -> dict[str, float]:
    """A categorical profile's shares, or a numeric one's values as category shares."""
    return dict(col["shares"]) if col["kind"] == "categorical" else _value_shares(col)


def _value_shares(col: Mapping[str, Any]) -> dict[str, float]:
    """Shares of the non-null values of a numeric profile, keyed by value (bin means if binned)."""
    total = sum(col["counts"])
    return {repr(float(v)): c / total for v, c in zip(col["means"], col["counts"], strict=True)}


def _approx_counts_in_bins(cur: Mapping[str, Any], cuts: np.ndarray) -> np.ndarray:
    """A stored profile's counts re-binned on other cuts (profile vs profile, no rows).

    Within each of its bins the mass is taken as uniform, or as a point at the bin's value
    when the bin holds one value (discrete columns, heavy ties): exact for those.
    """
    counts = np.asarray(cur["counts"], dtype="float64")
    lo = np.r_[cur["min"], cur["cuts"]]
    hi = np.r_[cur["cuts"], cur["max"]]
    point = np.asarray(cur["means"]) == lo
    width = np.where(point | (hi <= lo), 1.0, hi - lo)
    frac = np.where(point, 0.0, np.clip((cuts[:, None] - lo) / width, 0.0, 1.0))
    frac = np.where(point & (cuts[:, None] > lo), 1.0, frac)
    below = (frac * counts).sum(axis=1)  # mass strictly below each cut
    return np.diff(np.r_[0.0, below, counts.sum()])


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    p = np.clip(p / p.sum(), PSI_EPSILON, None)
    q = np.clip(q / q.sum(), PSI_EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _rounded(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def _md(text: str) -> str:
    return html.escape(text).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


# ------------------------------------------------------------------------- the run's watch
DRIFT_KEY = "drift"  # run.json key holding the summaries and the stored profiles


@dataclass(frozen=True)
class DriftWatch:
    """One run's drift: its own profile (for the next run) and the reports against the
    training window and the previous run (None: that reference is not there)."""

    profile: dict[str, Any]
    vs_training: DriftReport | None
    vs_previous: DriftReport | None

    @property
    def reports(self) -> list[DriftReport]:
        return [r for r in (self.vs_training, self.vs_previous) if r is not None]

    def summary(self) -> dict[str, Any]:
        """Counts and verdicts only (MLflow, Prefect): no profiles."""
        return {r.label: r.to_dict() for r in self.reports}

    def to_manifest(self) -> dict[str, Any]:
        """run.json's `drift`: the summaries, and the profile the next run compares with."""
        return {"reports": self.summary(), "profile": self.profile}


def watch(
    current: pd.DataFrame,
    columns: Sequence[str],
    categorical: Collection[str],
    previous: Mapping[str, Any] | None,
    reference: pd.DataFrame | None,
    reference_label: str = "training window",
) -> DriftWatch:
    """Compare this run's inputs and scores with a reference population (the same population
    at a date inside the models' training window) and with the previous run's profile
    (`previous`: that run's `drift` entry in run.json)."""
    own = profile(current, columns, categorical)
    vs_training = None
    if reference is not None and len(reference):
        ref = profile(reference, columns, categorical)
        vs_training = compare(ref, current, list(columns), label=reference_label)
    vs_previous = None
    if previous is not None and previous.get("profile"):
        vs_previous = compare(previous["profile"], current, list(columns), label="previous run")
    return DriftWatch(own, vs_training, vs_previous)


def previous_drift(folders: Sequence[Path]) -> Mapping[str, Any] | None:
    """The `drift` entry of the newest run.json among `folders` (oldest first) that has one."""
    for folder in reversed(list(folders)):
        try:
            manifest = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entry = manifest.get(DRIFT_KEY)
        if isinstance(entry, dict) and entry.get("profile"):
            return entry
    return None
