"""Advocates for a deal: the facts published per eligible advocate, the match score, its words.

`advocate_facts` and `with_scores` build `advocates.parquet` (one row per eligible contact,
seen strictly before T with the `features.state` macros). `match_scores` scores every advocate
for one opportunity with numpy only, so an answer at 1M advocates needs no feature rebuild. Score =
fit x p_yes(reference type) x (1 - p_burnout); fit is the weighted mean of same industry, same
segment, same region and the Jaccard overlap of the prospect's products with the features the
advocate used in the last `USAGE_DAYS` days (docs/matching.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from advocacy.features.state import register_state, timestamp_sql
from advocacy.features.usage import event_codes, event_days
from advocacy.settings import MatchingSettings

USAGE_DAYS = 90  # features_used: usage events in the 90 days before T
ACTIVE_DAYS = 30  # days_active_30d: days with any usage in the 30 days before T
DAILY_MIN_DAYS, WEEKLY_MIN_DAYS = 20, 4  # "daily" / "weekly" use in those 30 days
DEFAULT_REFERENCE_TYPE = "reference_call"

ADVOCATE_COLUMNS = (
    "contact_id", "account_id", "account_name", "industry", "segment", "region", "employees",
    "features_used", "days_active_30d", "latest_nps", "latest_nps_days_ago", "p_advocate",
    "p_burnout", "p_reference_call", "last_asked_days_ago", "as_of",
)  # fmt: skip
MATCH_COLUMNS = (
    "rank", "opportunity_id", "contact_id", "account_id", "account_name", "industry", "segment",
    "region", "fit", "p_yes", "p_burnout", "match_score", "reasons",
)  # fmt: skip
FIT_PARTS = ("industry", "segment", "region", "products")
# What scoring reads (read as dictionaries: a text test then runs once per distinct value).
SCORING_DICTIONARY = ("industry", "segment", "region", "features_used")
SCORING_NUMBERS = ("p_advocate", "p_reference_call", "p_burnout")


SCORE_COLUMNS = ("p_advocate", "p_burnout", "p_reference_call")


def advocate_facts(
    con: duckdb.DuckDBPyConnection, as_of: date, eligible_ids: Iterable[str]
) -> pd.DataFrame:
    """One row per eligible contact with the facts matching reads (ADVOCATE_COLUMNS less the
    scores: `with_scores` adds them), ordered by contact_id.

    Only rows seen strictly before T are read. Usage comes from the run's usage rows
    (`features.usage.event_days`, cached on the connection): on the feature step's
    connection usage_events is never scanned a second time. T is a midnight, so "the 90 days
    before T" is the same set of events by day as by timestamp.
    """
    register_state(con)
    ids = pd.DataFrame({"contact_id": pd.Series(list(eligible_ids), dtype=object)})
    con.register("_match_ids", ids)
    try:
        sql = _facts_sql(timestamp_sql(as_of), event_days(con, as_of), event_codes(con, as_of))
        table = con.sql(sql).to_arrow_table()
    finally:
        con.unregister("_match_ids")
    # features_used stays an Arrow list column: no Python list and str per advocate and event
    # (at 1M contacts that was ~0.5 GB at the feature step's memory peak).
    frame = table.to_pandas(
        types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_list(t) else None
    )
    frame["as_of"] = pd.Timestamp(as_of)
    for column in ("employees", "days_active_30d"):  # one dtype whichever engine read them
        frame[column] = frame[column].astype("Int64")
    for column in ("latest_nps", "latest_nps_days_ago", "last_asked_days_ago"):
        frame[column] = frame[column].astype("float64")
    return frame[[c for c in ADVOCATE_COLUMNS if c not in SCORE_COLUMNS]]


def with_scores(facts: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """advocates.parquet's rows: the facts of the contacts in `scores` with their scores.

    `scores` holds contact_id, p_advocate, p_burnout and optionally p_reference_call (the
    chance of yes to a reference call; p_advocate until that target exists).
    """
    s = scores[["contact_id", *(c for c in SCORE_COLUMNS if c in scores)]].copy()
    if "p_reference_call" not in s:
        s["p_reference_call"] = s["p_advocate"]
    merged = facts.merge(s, on="contact_id", how="inner", validate="one_to_one")
    return merged[list(ADVOCATE_COLUMNS)].reset_index(drop=True)


def _facts_sql(T: str, rollup: str, codes: str) -> str:
    return f"""
        WITH e AS (SELECT DISTINCT contact_id, hash(contact_id) AS h FROM _match_ids),
        use AS (
            SELECT e.contact_id, list_sort(list(DISTINCT c.event)) AS features_used,
                   count(DISTINCT r.day)
                       FILTER (WHERE within_days(date_start(r.day), {T}, {ACTIVE_DAYS}))
                       AS days_active_30d
            FROM e JOIN {rollup} r USING (h) JOIN {codes} c USING (ev)
            WHERE within_days(date_start(r.day), {T}, {USAGE_DAYS}) GROUP BY e.contact_id
        ),
        nps AS (
            SELECT contact_id, arg_max(score, (responded_at, response_id)) AS latest_nps,
                   days_between(max(responded_at), {T}) AS latest_nps_days_ago
            FROM nps_responses SEMI JOIN e USING (contact_id)
            WHERE seen_at(responded_at, {T}) GROUP BY contact_id
        ),
        asks AS (
            SELECT contact_id, days_between(max(requested_at), {T}) AS last_asked_days_ago
            FROM advocacy_activities SEMI JOIN e USING (contact_id)
            WHERE ask_made_before(requested_at, {T}) GROUP BY contact_id
        )
        SELECT c.contact_id, c.account_id, a.name AS account_name, a.industry, a.segment,
               a.region, a.employees,
               coalesce(use.features_used, CAST([] AS VARCHAR[])) AS features_used,
               coalesce(use.days_active_30d, 0) AS days_active_30d,
               nps.latest_nps, nps.latest_nps_days_ago, asks.last_asked_days_ago
        FROM e JOIN contacts c USING (contact_id) JOIN accounts a USING (account_id)
        LEFT JOIN use USING (contact_id) LEFT JOIN nps USING (contact_id)
        LEFT JOIN asks USING (contact_id)
        ORDER BY c.contact_id
    """


def parse_products(value: object) -> list[str]:
    """The prospect's products: a list, or text delimited by `;`, `,` or `|`; sorted, unique."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    listed = isinstance(value, list | tuple | np.ndarray)
    items = value if listed else re.split(r"[;,|]", str(value))
    return sorted({str(v).strip() for v in items if str(v).strip()})


def p_yes_column(reference_type: str | None, columns: Sequence[str]) -> str:
    """The chance-of-yes column for the ask: `p_<type>` when published, else p_advocate."""
    name = f"p_{reference_type or DEFAULT_REFERENCE_TYPE}"
    return name if name in columns else "p_advocate"


@dataclass(frozen=True)
class Coded:
    """A text column as distinct values + one code per row (-1: null)."""

    values: pa.Array
    codes: np.ndarray

    def test(self, test: Any) -> np.ndarray:
        """`test` (text array -> bool array) per row, run once per distinct value; the rows
        are then compared by code (one integer pass; a null's code -1 never matches)."""
        if len(self.values) == 0:
            return np.zeros(len(self.codes), dtype=bool)
        known = pc.fill_null(test(self.values), False).to_numpy(zero_copy_only=False)
        hit = np.flatnonzero(known)
        if len(hit) == 1:
            return self.codes == hit[0]
        return np.isin(self.codes, hit) if len(hit) else np.zeros(len(self.codes), dtype=bool)


@dataclass(frozen=True)
class ScoringIndex:
    """What scoring reads, as numpy codes and numbers: built once per loaded run, so an
    answer is a few numpy passes over the rows (docs/matching.md, "Speed")."""

    columns: dict[str, Coded]  # industry, segment, region
    features: Coded  # one code per (row, feature used), flattened
    feature_rows: np.ndarray  # the row of each flattened feature
    feature_counts: np.ndarray  # features used per row
    numbers: dict[str, np.ndarray]  # p_advocate, p_burnout, p_<type> ... (NaN -> 0)
    # One bit per feature code, per row, when the vocabulary fits in 64 bits and every row's
    # list is distinct (what `advocate_facts` writes); None: `_jaccard` counts hits per row.
    feature_masks: np.ndarray | None = None

    @property
    def num_rows(self) -> int:
        return len(self.feature_counts)

    @classmethod
    def from_table(cls, table: pa.Table) -> ScoringIndex:
        columns = {k: _coded(_chunks(table.column(k))) for k in ("industry", "segment", "region")}
        flats, rows, counts, start = [], [], [], 0
        for chunk in _chunks(table.column("features_used")):
            flats.append(pc.list_flatten(chunk))
            rows.append(pc.list_parent_indices(chunk).to_numpy(zero_copy_only=False) + start)
            counts.append(pc.fill_null(pc.list_value_length(chunk), 0).to_numpy(False))
            start += len(chunk)
        numbers = {c: _numbers(table.column(c)) for c in table.column_names if c.startswith("p_")}
        features = _coded(flats)
        feature_rows = np.concatenate(rows or [np.zeros(0)]).astype(np.int64)
        feature_counts = np.concatenate(counts or [np.zeros(0)]).astype(float)
        masks = _feature_masks(features, feature_rows, feature_counts)
        return cls(columns, features, feature_rows, feature_counts, numbers, masks)


def _feature_masks(features: Coded, rows: np.ndarray, counts: np.ndarray) -> np.ndarray | None:
    """Each row's features as the bits of one uint64 (popcount of the AND = the products in
    common), or None when they do not fit, or a list repeats a feature or holds a null (the
    counting path keeps its exact meaning then). 500 deals x 553k advocates: the Jaccard part
    of matching 7.3 -> 1.4 s (docs/benchmarks.md)."""
    if len(features.values) > 64 or (features.codes < 0).any():
        return None
    masks = np.zeros(len(counts), dtype=np.uint64)
    np.bitwise_or.at(masks, rows, np.left_shift(np.uint64(1), features.codes.astype(np.uint64)))
    return masks if np.array_equal(np.bitwise_count(masks), counts) else None


def _chunks(column: pa.ChunkedArray) -> list[pa.Array]:
    return list(column.chunks)


def _coded(chunks: list[pa.Array]) -> Coded:
    """One vocabulary over all chunks (each chunk may carry its own dictionary)."""
    vocab: dict[str, int] = {}
    parts = []
    for arr in chunks:
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(arr)
        local = [vocab.setdefault(v, len(vocab)) for v in arr.dictionary.to_pylist()]
        lookup = np.array([*local, -1], dtype=np.int64)  # the last entry: null
        parts.append(lookup[pc.fill_null(arr.indices, len(local)).to_numpy(False)])
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return Coded(pa.array(list(vocab), pa.string()), codes)


def fit_parts(index: ScoringIndex, opportunity: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each fit component per advocate in [0, 1], vectorised."""
    parts = {}
    for key in ("industry", "segment", "region"):
        value = opportunity.get(key)
        wanted = None if value is None else str(value).lower()
        parts[key] = (
            np.zeros(index.num_rows)
            if wanted is None
            else index.columns[key].test(lambda v, w=wanted: pc.equal(pc.utf8_lower(v), w))
        ).astype(float)
    parts["products"] = _jaccard(index, parse_products(opportunity.get("products")))
    return parts


def _jaccard(index: ScoringIndex, wanted: list[str]) -> np.ndarray:
    n = index.num_rows
    if not wanted:
        return np.zeros(n)
    value_set = pa.array(wanted)
    if index.feature_masks is not None:
        known = pc.is_in(index.features.values, value_set=value_set).to_numpy(False)
        bits = np.left_shift(np.uint64(1), np.flatnonzero(known).astype(np.uint64))
        want = np.bitwise_or.reduce(bits) if len(bits) else np.uint64(0)
        inter = np.bitwise_count(index.feature_masks & want).astype(float)
    else:
        hits = index.features.test(lambda v: pc.is_in(v, value_set=value_set))
        inter = np.bincount(index.feature_rows, weights=hits.astype(float), minlength=n)
    union = index.feature_counts + len(wanted) - inter
    # features_used is distinct (advocate_facts); a hand-made file with repeats stays <= 1.
    return np.clip(np.divide(inter, union, out=np.zeros(n), where=union > 0), 0.0, 1.0)


@dataclass(frozen=True)
class Ranked:
    """The best rows for one opportunity: row indices (best first) and their numbers."""

    index: np.ndarray
    score: np.ndarray
    fit: np.ndarray
    p_yes: np.ndarray
    p_burnout: np.ndarray
    parts: dict[str, np.ndarray]


def rank(
    index: ScoringIndex, opportunity: Mapping[str, Any], settings: MatchingSettings, top: int
) -> Ranked:
    """Score = fit x p_yes x (1 - p_burnout) for every row; keep the `top` with score > 0.

    Ties go to the earlier row: `advocate_facts` orders rows by contact_id, so the order is
    the contact id's, without reading the ids.
    """
    parts = fit_parts(index, opportunity)
    weights = _weights(settings)
    total = sum(weights.values()) or 1.0
    fit = sum(weights[k] * parts[k] for k in FIT_PARTS) / total
    p_yes = index.numbers[p_yes_column(opportunity.get("reference_type"), list(index.numbers))]
    burnout = index.numbers["p_burnout"]
    score = fit * p_yes * (1.0 - burnout)
    idx = top_indices(score, top)
    return Ranked(
        idx, score[idx], fit[idx], p_yes[idx], burnout[idx], {k: v[idx] for k, v in parts.items()}
    )


def _weights(settings: MatchingSettings) -> dict[str, float]:
    return {
        "industry": settings.weight_industry,
        "segment": settings.weight_segment,
        "region": settings.weight_region,
        "products": settings.weight_products,
    }


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    return np.nan_to_num(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), nan=0.0)


def top_indices(score: np.ndarray, top: int) -> np.ndarray:
    """Row indices of the `top` best scores > 0, best first (ties: the earlier row)."""
    k = min(top, int((score > 0).sum()))
    if k == 0:
        return np.array([], dtype=np.int64)
    part = np.argpartition(-score, k - 1)[:k] if k < len(score) else np.arange(len(score))
    pool = np.flatnonzero(score >= score[part].min())  # every tie at the cut
    return pool[np.lexsort((pool, -score[pool]))][:k]


def match_rows(
    details: pd.DataFrame,
    ranked: Ranked,
    opportunity: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """MATCH_COLUMNS for the ranked rows; `details` holds their advocate rows, in rank order.

    `opportunity` is the deal of every row, or one deal per row (many deals at once: rank
    counts within each deal, rows of a deal must be together and best first)."""
    rows = details.reset_index(drop=True).copy()
    deals = [opportunity] * len(rows) if isinstance(opportunity, Mapping) else list(opportunity)
    rows["opportunity_id"] = [str(d["opportunity_id"]) for d in deals]
    rows.insert(0, "rank", rows.groupby("opportunity_id", sort=False).cumcount() + 1)
    rows["fit"], rows["p_yes"], rows["match_score"] = ranked.fit, ranked.p_yes, ranked.score
    rows["p_burnout"] = ranked.p_burnout
    rows["reasons"] = [
        match_reasons(row, deal, {k: v[i] for k, v in ranked.parts.items()})
        for i, (row, deal) in enumerate(zip(rows.to_dict("records"), deals, strict=True))
    ]
    out = rows[list(MATCH_COLUMNS)]
    return out.round({"fit": 4, "p_yes": 4, "p_burnout": 4, "match_score": 4})


def best_advocates(
    advocates: pa.Table, opportunity: Mapping[str, Any], settings: MatchingSettings, top: int
) -> pd.DataFrame:
    """The `top` advocates of an in-memory table for one opportunity, with their reasons."""
    ranked = rank(ScoringIndex.from_table(advocates), opportunity, settings, top)
    details = advocates.take(pa.array(ranked.index, type=pa.int64())).to_pandas()
    return match_rows(details, ranked, opportunity)


def match_reasons(
    advocate: Mapping[str, Any], opportunity: Mapping[str, Any], parts: Mapping[str, float]
) -> str:
    """Plain words: 'same industry (healthcare) and region (emea); uses ... daily; gave NPS 10
    12 days ago'."""
    same = [f"{k} ({advocate[k]})" for k in ("industry", "segment", "region") if parts[k] > 0]
    out = ["same " + _and(same)] if same else []
    used = sorted(set(parse_products(opportunity.get("products"))) & set(advocate["features_used"]))
    if used:
        out.append(f"uses {_and(used)} {_how_often(advocate.get('days_active_30d'))}")
    nps, ago = advocate.get("latest_nps"), advocate.get("latest_nps_days_ago")
    if _known(nps) and _known(ago):
        out.append(f"gave NPS {int(nps)} {_days_ago(float(ago))}")
    return "; ".join(out) or "no shared industry, segment, region or product"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _how_often(days: object) -> str:
    d = int(days) if _known(days) else 0
    if d >= DAILY_MIN_DAYS:
        return "daily"
    if d >= WEEKLY_MIN_DAYS:
        return "weekly"
    if d == 0:  # used in the 90 days before T, not in the last 30
        return "in the last 90 days"
    return f"on {d} of the last {ACTIVE_DAYS} days"


def _days_ago(days: float) -> str:
    d = int(days)
    return "today" if d == 0 else ("yesterday" if d == 1 else f"{d} days ago")


def _known(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))
