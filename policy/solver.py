"""The one exact assignment solver: who gets which slot, under caps (HiGHS via scipy).

Used by the weekly ask plan (slot = activity type) and by deal matching (slot = opportunity
id). A safe prefilter first cuts the edges to those that can matter, then a 0/1 integer
programme is solved exactly with `scipy.optimize.milp`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

log = logging.getLogger(__name__)

EDGE_COLUMNS = ("slot", "person", "group", "value")


def assign(
    edges: pd.DataFrame,
    *,
    slot_caps: Mapping[str, int],
    person_cap: int = 1,
    group_caps: int | Mapping[str, int] | None = None,
    total: int | None = None,
) -> pd.DataFrame:
    """Choose edges maximising the summed value under slot, person, group and total caps.

    edges: columns slot, person, group, value (one row per allowed (slot, person) pair; slot
    = an activity type or an opportunity id, person = contact_id, group = account_id; every
    person belongs to one group). Chooses x in {0,1} per edge maximising sum(value * x) s.t.
    per slot <= slot_caps[slot] (a slot missing from slot_caps has cap 0), per person <=
    person_cap, per group <= group_caps (int: the same cap for every group; mapping: a cap
    per group, a group missing from the mapping is unlimited; None: no group caps), and in
    all <= total (None: no total cap). Edges with value <= 0 are never chosen. Returns the
    chosen rows (all input columns, fresh index), sorted by value desc then slot, person.
    Deterministic: the same edge set gives the same answer whatever its row order.

    Safe prefilter (proof by exchange). Order edges by (value desc, slot, person); "top k"
    means the first k in that order. Let T = min(total, sum of slot caps): no solution has
    more than T edges. Stage 1: per (slot, group g) keep the top K_g = 2*cap_g edges.
    Take an optimum using edge e = (s, p, g) outside the top K_g of (s, g). The top K_g
    edges have distinct persons (one edge per (slot, person)), all in group g. Such an edge
    f = (s, p', g) cannot replace e only if f is already chosen or p' is full; either way
    p' owns a chosen edge of group g other than e, and group g holds at most cap_g chosen
    edges including e, so at most cap_g - 1 < K_g are blocked. Swapping e for an unblocked
    f keeps the slot, group and total counts, p' has room, and value(f) >= value(e): an
    optimum as good with one fewer edge outside stage 1's set; repeat. Stage 2: on stage
    1's edges, per slot s keep the top M_s = cap_s + ceil(T/person_cap) + 2T + 1. If an
    optimum uses e in slot s outside the top M_s, a top edge f = (s, p', g') is blocked only
    if f is chosen (<= cap_s - 1 others in s), p' is full (each full person holds
    person_cap of the <= T chosen edges: <= ceil(T/person_cap) persons, each with one edge
    in s) or g' is full (full groups' caps sum to <= T, and stage 1 left <= 2*cap_g' edges
    of (s, g'): <= 2T edges). That is < M_s, so an unblocked f exists; swapping e for f
    keeps the slot and total counts, fits p' and g', and does not lower the value. Groups
    without a cap are neither cut in stage 1 nor ever full. Both stages are vectorised.
    """
    _check(edges, slot_caps, person_cap, group_caps, total)
    slot, slots = sorted_codes(edges["slot"])
    person, _ = sorted_codes(edges["person"])
    group, groups = sorted_codes(edges["group"])
    chosen = assign_codes(
        edges["value"].to_numpy(dtype=float),
        slot,
        person,
        group,
        slot_cap=np.array([int(slot_caps.get(s, 0)) for s in slots], dtype=np.int64),
        group_cap=None if group_caps is None else _group_cap_array(groups, group_caps),
        person_cap=person_cap,
        total=total,
    )
    out = edges.iloc[chosen].reset_index(drop=True)
    log.debug("assign: %d edges, %d chosen", len(edges), len(out))
    return out


def assign_codes(
    value: np.ndarray,
    slot: np.ndarray,
    person: np.ndarray,
    group: np.ndarray,
    *,
    slot_cap: np.ndarray,
    group_cap: np.ndarray | None = None,
    person_cap: int = 1,
    total: int | None = None,
) -> np.ndarray:
    """`assign` on integer codes: positions of the chosen edges, by value desc, slot, person.

    slot, person, group: codes whose order is the ids' order (ties break by it, as in
    `assign`); slot_cap: cap per slot code (>= 0); group_cap: cap per group code, -1 =
    unlimited (None: no group caps). Callers that already hold codes (the ask plan) skip
    hashing millions of string ids; `assign` is this plus the encoding.
    """
    n = value.size
    slot, person, group = (np.asarray(a, dtype=np.int64) for a in (slot, person, group))
    if n and _has_duplicates(person, slot, int(slot.max()) + 1):
        raise ValueError("assign: duplicated (slot, person) pairs in edges")
    live = (value > 0) & (slot_cap[slot] > 0) if n else np.zeros(0, dtype=bool)
    pos = np.flatnonzero(live)
    codes = {
        "pos": pos,
        "value": value[pos],
        "slot": slot[pos],
        "person": person[pos],
        "group": group[pos],
        "slot_cap": np.asarray(slot_cap, dtype=np.int64),
        "group_cap": (
            np.full(int(group.max()) + 1 if n else 0, -1, dtype=np.int64)
            if group_cap is None
            else np.asarray(group_cap, dtype=np.int64)
        ),
    }
    if group_cap is not None:
        _check_one_group_per_person(codes)
    keep = _prefilter(codes, person_cap, total)
    chosen = _solve(codes, keep, person_cap, total)
    log.debug("assign_codes: %d edges, %d after prefilter, %d chosen", n, keep.size, chosen.size)
    return pos[chosen]


def positions(values: pd.Series | np.ndarray, universe: pd.Index) -> np.ndarray:
    """Position of each value in `universe` (unique), -1 where absent.

    Each run of equal neighbours is hashed once (long frames arrive grouped by contact), and
    the runs are dictionary-encoded by pyarrow: millions of string ids in well under a second.
    """
    arr = values.array if isinstance(values, pd.Series) else np.asarray(values)
    if isinstance(arr, pd.Categorical):
        lookup = np.r_[universe.get_indexer(arr.categories), -1]
        return lookup[arr.codes].astype(np.int64, copy=False)
    heads = _run_heads(arr)
    codes, uniques = _factorize(arr.take(heads))
    lookup = np.r_[universe.get_indexer(uniques), -1]
    return np.repeat(lookup[codes], np.diff(np.r_[heads, len(arr)])).astype(np.int64, copy=False)


def sorted_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Like pd.factorize(values, sort=True) (codes in id order, NaN = -1), fast on long columns."""
    arr = values.array if isinstance(values, pd.Series) else np.asarray(values)
    _, uniques = _factorize(arr.take(_run_heads(arr)))
    ids = uniques.sort_values()
    return positions(values, ids), ids


def _run_heads(arr) -> np.ndarray:
    """Start of every run of equal neighbours (every position if they cannot be compared)."""
    n = len(arr)
    if n < 2:
        return np.arange(n)
    try:
        ne = np.asarray(arr[1:] != arr[:-1])
    except (TypeError, ValueError):
        return np.arange(n)
    if ne.dtype != bool or ne.shape != (n - 1,):
        return np.arange(n)
    return np.flatnonzero(np.r_[True, ne])


def _factorize(arr) -> tuple[np.ndarray, pd.Index]:
    """Codes (NaN = -1) and uniques (NaN dropped), pyarrow's dictionary encoding when it can."""
    try:
        enc = pc.dictionary_encode(pa.array(arr))
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
    except (pa.ArrowException, TypeError, ValueError):
        codes, uniques = pd.factorize(arr)
        return codes.astype(np.int64), pd.Index(uniques)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = pd.Index(enc.dictionary.to_pandas())
    return codes, uniques


def _has_duplicates(a: np.ndarray, b: np.ndarray, nb: int) -> bool:
    """Whether two (a, b) code pairs repeat: scatter into a table when small, else sort."""
    key = a * nb + b
    size = int(key.max()) + 1
    if size > 4 * key.size + 1024:
        return bool(np.unique(key).size < key.size)
    last = np.full(size, -1, dtype=np.int64)
    last[key] = np.arange(key.size)
    return bool(np.count_nonzero(last >= 0) < key.size)


def _check(
    edges: pd.DataFrame,
    slot_caps: Mapping[str, int],
    person_cap: int,
    group_caps: int | Mapping[str, int] | None,
    total: int | None,
) -> None:
    missing = [c for c in EDGE_COLUMNS if c not in edges.columns]
    if missing:
        raise ValueError(f"assign: edges lack column(s) {missing}; need {list(EDGE_COLUMNS)}")
    bad = {k: v for k, v in slot_caps.items() if v is None or v < 0}
    if bad:
        raise ValueError(f"assign: negative slot caps {bad}")
    if person_cap < 0:
        raise ValueError(f"assign: negative person_cap {person_cap}")
    if total is not None and total < 0:
        raise ValueError(f"assign: negative total {total}")
    if isinstance(group_caps, int) and group_caps < 0:
        raise ValueError(f"assign: negative group_caps {group_caps}")
    if isinstance(group_caps, Mapping):
        neg = {k: v for k, v in group_caps.items() if v < 0}
        if neg:
            raise ValueError(f"assign: negative group caps for {len(neg)} group(s), e.g. {neg}")
    for col in EDGE_COLUMNS:
        if edges[col].isna().any():
            raise ValueError(f"assign: column {col!r} has missing (NaN) values")


def _group_cap_array(groups: pd.Index, group_caps: int | Mapping[str, int] | None) -> np.ndarray:
    """Cap per group code; -1 = unlimited."""
    if group_caps is None:
        return np.full(len(groups), -1, dtype=np.int64)
    if isinstance(group_caps, int):
        return np.full(len(groups), group_caps, dtype=np.int64)
    caps = pd.Series(group_caps, dtype="float64")
    return pd.Series(groups).map(caps).fillna(-1).to_numpy(dtype=np.int64)


def _check_one_group_per_person(codes: dict[str, np.ndarray]) -> None:
    """Scatter each edge's group onto its person: a person with two groups disagrees somewhere."""
    person, group = codes["person"], codes["group"]
    if person.size == 0:
        return
    seen = np.empty(int(person.max()) + 1, dtype=np.int64)
    seen[person] = group
    if (seen[person] != group).any():
        raise ValueError("assign: a person appears in more than one group")


def _rank_within(block: np.ndarray, order: np.ndarray) -> np.ndarray:
    """0-based rank of each position of `order` within its block (block sorted along order)."""
    b = block[order]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    lengths = np.diff(np.r_[starts, b.size])
    return np.arange(b.size) - np.repeat(starts, lengths)


def _prefilter(codes: dict[str, np.ndarray], person_cap: int, total: int | None) -> np.ndarray:
    """Indices (into codes) of edges that survive both safe stages (see `assign`).

    The stages run on a short head of each slot's edges (`_slot_heads`), which gives the
    same survivors as running them on every edge, without sorting millions of them.
    """
    n = codes["value"].size
    if n == 0 or person_cap == 0 or total == 0:
        return np.empty(0, dtype=np.int64)
    head = _slot_heads(codes, person_cap, total)
    sub = {k: codes[k][head] for k in ("value", "slot", "person", "group")}
    sub |= {"slot_cap": codes["slot_cap"], "group_cap": codes["group_cap"]}
    return head[_two_stages(sub, person_cap, total)]


def _limits(slot_cap: np.ndarray, present: np.ndarray, person_cap: int, total: int | None):
    """Stage 2's kept count per slot, M_s = cap_s + ceil(T/person_cap) + 2T + 1."""
    t = int(slot_cap[present].sum())
    t = t if total is None else min(t, total)
    return slot_cap + math.ceil(t / person_cap) + 2 * t + 1


def _stage1(sub: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of edges within the top 2 * cap of their (slot, capped group) cell."""
    value, slot, person, group = sub["value"], sub["slot"], sub["person"], sub["group"]
    gcap = sub["group_cap"][group]
    capped = gcap >= 0
    ok = np.ones(value.size, dtype=bool)
    if capped.any():
        cell = slot * (int(group.max()) + 1) + group
        order = np.lexsort((person, -value, cell))
        rank = _rank_within(cell, order)
        ok[order] = ~capped[order] | (rank < 2 * gcap[order])
    return ok


def _two_stages(sub: dict[str, np.ndarray], person_cap: int, total: int | None) -> np.ndarray:
    """The two safe stages of `assign`'s docstring, sorted indices into sub's edges."""
    value, slot, person = sub["value"], sub["slot"], sub["person"]
    idx = np.flatnonzero(_stage1(sub))
    limit = _limits(sub["slot_cap"], np.unique(slot[idx]), person_cap, total)
    order = np.lexsort((person[idx], -value[idx], slot[idx]))
    rank = _rank_within(slot[idx], order)
    keep = idx[order][rank < limit[slot[idx][order]]]
    return np.sort(keep)


def _slot_heads(codes: dict[str, np.ndarray], person_cap: int, total: int | None) -> np.ndarray:
    """Sorted indices of a head of every slot (its edges of value >= some threshold).

    A head is closed under the order (value desc, person), and an edge's stage-1 rank only
    depends on edges before it in its slot, so on a head both stages give the true answer as
    soon as it holds M_s stage-1 survivors (or is the whole slot). M_s is taken with T over
    all slots (>= the true T); heads short of it grow 4x until they are long enough.
    """
    value, slot = codes["value"], codes["slot"]
    n_slots = codes["slot_cap"].size
    counts = np.bincount(slot, minlength=n_slots)
    want = _limits(codes["slot_cap"], np.flatnonzero(counts), person_cap, total)
    small = np.uint8 if n_slots <= 255 else np.uint16 if n_slots <= 65535 else np.int64
    order = np.argsort(slot.astype(small), kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    length = np.minimum(counts, 2 * want + 64)
    while True:
        head = _heads(value, slot, order, starts, counts, length)
        sub = {k: codes[k][head] for k in ("value", "slot", "person", "group")}
        sub["group_cap"] = codes["group_cap"]
        alive = np.bincount(sub["slot"][_stage1(sub)], minlength=n_slots)
        short = (alive < want) & (length < counts)
        if not short.any():
            return head
        length[short] = np.minimum(counts[short], 4 * length[short])


def _heads(
    value: np.ndarray,
    slot: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    length: np.ndarray,
) -> np.ndarray:
    """Per slot, every edge whose value is >= its slot's length-th largest (ties kept)."""
    whole = length >= counts
    parts = [order[whole[slot[order]]]]
    for s in np.flatnonzero(~whole):
        block = order[starts[s] : starts[s] + counts[s]]
        v = value[block]
        cut = counts[s] - length[s]
        parts.append(block[v >= np.partition(v, cut)[cut]])
    return np.sort(np.concatenate(parts))


def _solve(
    codes: dict[str, np.ndarray], keep: np.ndarray, person_cap: int, total: int | None
) -> np.ndarray:
    """Indices (into codes) of the chosen edges, sorted by value desc, slot, person."""
    if keep.size == 0:
        return keep
    value, slot = codes["value"][keep], codes["slot"][keep]
    person, group = codes["person"][keep], codes["group"][keep]
    rows = []
    for member, cap in (
        (slot, codes["slot_cap"]),
        (person, np.full(int(person.max()) + 1, person_cap)),
        (group, codes["group_cap"]),
    ):
        used, inv = np.unique(member, return_inverse=True)
        limited = cap[used] >= 0
        rows.append((inv, limited, cap[used]))
    a, ub = _constraint_matrix(rows, keep.size, total)
    res = milp(
        -value,
        constraints=LinearConstraint(a, -np.inf, ub),
        integrality=np.ones(keep.size),
        bounds=Bounds(0, 1),
    )
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"assign: HiGHS did not find the optimum: {res.message}")
    picked = np.flatnonzero(res.x > 0.5)
    order = np.lexsort((codes["person"][keep][picked], slot[picked], -value[picked]))
    return keep[picked[order]]


def _constraint_matrix(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int, total: int | None
) -> tuple[sparse.csr_array, np.ndarray]:
    """Stack one 0/1 row per capped slot, person and group (and the total) into CSR."""
    r_parts, c_parts, ub_parts, offset = [], [], [], 0
    col = np.arange(n)
    for inv, limited, caps in rows:
        row_of = np.cumsum(limited) - 1 + offset
        mask = limited[inv]
        r_parts.append(row_of[inv][mask])
        c_parts.append(col[mask])
        ub_parts.append(caps[limited].astype(float))
        offset += int(limited.sum())
    if total is not None:
        r_parts.append(np.full(n, offset))
        c_parts.append(col)
        ub_parts.append(np.array([float(total)]))
        offset += 1
    r, c = np.concatenate(r_parts), np.concatenate(c_parts)
    a = sparse.csr_array((np.ones(r.size), (r, c)), shape=(offset, n))
    return a, np.concatenate(ub_parts)


def slot_prices(
    edges: pd.DataFrame, *, slot_caps: Mapping[str, int], person_cap: int = 1
) -> pd.Series:
    """The LP dual price of each slot's cap (no group or total caps), per slot.

    Why: a caller that solves on the best few edges per slot can prove its answer optimal for
    every edge it left out. With slot and person caps only, the constraint matrix is that of a
    bipartite b-matching (totally unimodular), so the LP optimum is the integer optimum; and a
    left-out edge (s, p) of value w cannot improve it when w <= price(s), because person prices
    are >= 0 (the reduced cost w - price(s) - price(p) is then <= 0).
    """
    e = edges.reset_index(drop=True)
    slots, s_code = np.unique(e["slot"].astype(str).to_numpy(), return_inverse=True)
    _, p_code = np.unique(e["person"].to_numpy(), return_inverse=True)
    n = len(e)
    rows = np.concatenate([s_code, len(slots) + p_code])
    a = sparse.csr_array((np.ones(2 * n), (rows, np.tile(np.arange(n), 2))))
    caps = np.array([float(slot_caps.get(str(x), 0)) for x in slots])
    ub = np.concatenate([caps, np.full(int(p_code.max()) + 1 if n else 0, float(person_cap))])
    res = linprog(-e["value"].to_numpy(float), A_ub=a, b_ub=ub, bounds=(0, 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"slot_prices: HiGHS did not find the optimum: {res.message}")
    return pd.Series(-res.ineqlin.marginals[: len(slots)], index=slots)
