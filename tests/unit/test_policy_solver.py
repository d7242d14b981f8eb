"""The exact solver equals brute force (prefilter active), honours every cap, fails clearly."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from advocacy.policy import solver
from advocacy.policy.solver import assign


def _instance(seed: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    n_people = int(rng.integers(3, 8))
    slots = ["a", "b", "c"][: int(rng.integers(1, 4))]
    rows = [
        (s, f"p{p}", f"g{p % int(rng.integers(1, 4))}", float(rng.integers(-2, 6)))
        for s in slots
        for p in range(n_people)
        if rng.random() < 0.7
    ][:11]
    edges = pd.DataFrame(rows, columns=["slot", "person", "group", "value"])
    edges["group"] = edges["person"].map(lambda p: f"g{int(p[1:]) % 2}")  # one group per person
    kw = {
        "slot_caps": {s: int(rng.integers(0, 3)) for s in slots},
        "person_cap": int(rng.integers(1, 3)),
        "group_caps": [None, 1, {"g0": 1}][seed % 3],
        "total": [None, 1, 2, 3][seed % 4],
    }
    return edges, kw


def _feasible(chosen: pd.DataFrame, kw: dict) -> bool:
    slot_ok = all(n <= kw["slot_caps"].get(s, 0) for s, n in chosen["slot"].value_counts().items())
    person_ok = (chosen["person"].value_counts() <= kw["person_cap"]).all()
    caps = kw["group_caps"]
    counts = chosen["group"].value_counts()
    if caps is None:
        group_ok = True
    elif isinstance(caps, int):
        group_ok = (counts <= caps).all()
    else:
        group_ok = all(n <= caps.get(g, n) for g, n in counts.items())
    total_ok = kw["total"] is None or len(chosen) <= kw["total"]
    return slot_ok and bool(person_ok) and bool(group_ok) and total_ok


def _brute(edges: pd.DataFrame, kw: dict) -> float:
    """Best summed value over every subset of edges (plain tuples: fast enough for 2^11)."""
    rows = list(edges[["slot", "person", "group", "value"]].itertuples(index=False))
    caps = kw["group_caps"]
    best = 0.0
    for k in range(1, len(rows) + 1):
        for combo in itertools.combinations(rows, k):
            if kw["total"] is not None and k > kw["total"]:
                return best
            slots, people, groups = (Counter(r[i] for r in combo) for i in range(3))
            if any(n > kw["slot_caps"].get(s, 0) for s, n in slots.items()):
                continue
            if any(n > kw["person_cap"] for n in people.values()):
                continue
            if isinstance(caps, int) and any(n > caps for n in groups.values()):
                continue
            if isinstance(caps, dict) and any(n > caps.get(g, n) for g, n in groups.items()):
                continue
            best = max(best, sum(r[3] for r in combo))
    return best


@pytest.mark.parametrize("seed", range(30))
def test_equals_brute_force(seed: int) -> None:
    edges, kw = _instance(seed)
    chosen = assign(edges, **kw)
    assert _feasible(chosen, kw)
    assert (chosen["value"] > 0).all()
    assert chosen["value"].sum() == pytest.approx(_brute(edges, kw))


def test_prefilter_bites_and_stays_exact() -> None:
    """Many edges in one slot and group, tiny caps: most are cut, the optimum is kept."""
    rng = np.random.default_rng(7)
    people = [f"p{i:02d}" for i in range(40)]
    edges = pd.DataFrame(
        {
            "slot": np.repeat(["a", "b"], 40),
            "person": people * 2,
            "group": [f"g{i % 2}" for i in range(40)] * 2,
            "value": rng.integers(1, 5, 80).astype(float),
        }
    )
    kw = {"slot_caps": {"a": 1, "b": 1}, "person_cap": 1, "group_caps": 1, "total": 2}
    chosen = assign(edges, **kw)
    assert _feasible(chosen, kw)
    top = edges.groupby("slot")["value"].max().sum()  # two different groups can take both maxima
    assert chosen["value"].sum() == top


def test_all_constraints_on_a_larger_world() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    contacts = pd.DataFrame(
        {"person": [f"c{i:05d}" for i in range(n)], "group": rng.integers(0, 150, n).astype(str)}
    )
    edges = contacts.merge(pd.DataFrame({"slot": list("abcdefgh")}), how="cross")
    edges["value"] = rng.beta(2, 8, len(edges)) * 10 - rng.random(len(edges))
    edges = edges.sample(frac=0.8, random_state=1)
    caps = dict(zip("abcdefgh", [5, 2, 8, 40, 25, 2, 15, 3], strict=True))
    kw = {"slot_caps": caps, "person_cap": 1, "group_caps": 2, "total": 90}
    chosen = assign(edges, **kw)
    assert len(chosen) == 90
    assert _feasible(chosen, kw)
    assert not chosen.duplicated("person").any()
    assert chosen.equals(assign(edges.sample(frac=1.0, random_state=9), **kw))  # row order


def test_sorted_and_all_columns_kept() -> None:
    edges = pd.DataFrame(
        {
            "slot": ["b", "a", "a"],
            "person": ["x", "y", "x"],
            "group": ["g", "h", "g"],
            "value": [1.0, 1.0, 3.0],
            "extra": [1, 2, 3],
        }
    )
    chosen = assign(edges, slot_caps={"a": 2, "b": 1}, person_cap=2)
    assert list(chosen.columns) == list(edges.columns)
    assert list(zip(chosen["slot"], chosen["person"], strict=True)) == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
    ]


def test_empty_and_zero_caps_give_empty_frame() -> None:
    edges = pd.DataFrame({"slot": ["a"], "person": ["x"], "group": ["g"], "value": [1.0]})
    for out in (
        assign(edges.iloc[:0], slot_caps={"a": 1}),
        assign(edges, slot_caps={"a": 0}),
        assign(edges, slot_caps={}),
        assign(edges, slot_caps={"a": 1}, total=0),
        assign(edges.assign(value=-1.0), slot_caps={"a": 1}),
    ):
        assert out.empty
        assert list(out.columns) == list(edges.columns)


@pytest.mark.parametrize(
    ("change", "kw", "message"),
    [
        (lambda e: e.drop(columns="group"), {}, "lack column"),
        (lambda e: pd.concat([e, e]), {}, "duplicated"),
        (lambda e: e.assign(value=np.nan), {}, "NaN"),
        (lambda e: e, {"slot_caps": {"a": -1}}, "negative slot caps"),
        (lambda e: e, {"person_cap": -1}, "person_cap"),
        (lambda e: e, {"group_caps": {"g": -1}}, "negative group caps"),
        (lambda e: e, {"total": -2}, "negative total"),
        (
            lambda e: pd.DataFrame(
                {"slot": ["a", "b"], "person": ["x", "x"], "group": ["g", "h"], "value": [1, 1]}
            ),
            {"group_caps": 1, "slot_caps": {"a": 1, "b": 1}},
            "more than one group",
        ),
    ],
)
def test_clear_errors(change, kw, message: str) -> None:
    edges = pd.DataFrame({"slot": ["a"], "person": ["x"], "group": ["g"], "value": [1.0]})
    with pytest.raises(ValueError, match=message):
        assign(change(edges), **{"slot_caps": {"a": 1}, **kw})


def _plain_codes(edges: pd.DataFrame, caps: dict, group_cap: int) -> dict[str, np.ndarray]:
    """Codes straight from pd.factorize(sort=True): the reference the fast encoding must match."""
    slot, slots = pd.factorize(edges["slot"], sort=True)
    person, _ = pd.factorize(edges["person"], sort=True)
    group, groups = pd.factorize(edges["group"], sort=True)
    return {
        "value": edges["value"].to_numpy(dtype=float),
        "slot": slot.astype(np.int64),
        "person": person.astype(np.int64),
        "group": group.astype(np.int64),
        "slot_cap": np.array([caps.get(s, 0) for s in slots], dtype=np.int64),
        "group_cap": np.full(len(groups), group_cap, dtype=np.int64),
    }


@pytest.mark.parametrize("seed", range(6))
def test_slot_heads_give_the_same_survivors_as_both_stages_on_every_edge(seed: int) -> None:
    """Thousands of edges per slot, top values piled in a few accounts (stage 1 cuts most of
    the head, so heads must grow), integer values (ties): same kept set, same optimum."""
    rng = np.random.default_rng(seed)
    n = 3000
    group = rng.integers(0, 400, n)
    edges = pd.DataFrame(
        {
            "slot": rng.choice(["a", "b", "c"], n),
            "person": [f"p{i:05d}" for i in rng.permutation(n)],
            "group": [f"g{g:03d}" for g in group],
            "value": np.where(group < 3, 50.0, 0.0) + rng.integers(1, 6, n),
        }
    ).drop_duplicates(["slot", "person"])
    caps = {"a": 2, "b": 1, "c": 3}
    codes = _plain_codes(edges, caps, group_cap=1)
    kept = solver._prefilter(codes, person_cap=1, total=4)
    reference = solver._two_stages(codes, person_cap=1, total=4)
    assert kept.size < len(edges) // 10  # the filter bites
    np.testing.assert_array_equal(kept, reference)
    everything = np.arange(len(edges))
    best = codes["value"][solver._solve(codes, everything, 1, 4)].sum()
    assert codes["value"][solver._solve(codes, kept, 1, 4)].sum() == best


@pytest.mark.parametrize(
    "values",
    [
        ["b", "a", "b", "b", None, "c", "a", "a"],
        pd.Series(["x", "y", "x", "z"], dtype="category"),
        [3, 1, 3, 3, 2],
        np.array(["c1", "c1", "c1", "c0", "c0"], dtype=object),
    ],
)
def test_sorted_codes_match_pandas_factorize(values) -> None:
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    codes, ids = solver.sorted_codes(series)
    ref_codes, ref_ids = pd.factorize(series, sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert list(ids) == list(ref_ids)
    universe = pd.Index(list(ref_ids)[::-1])
    expected = np.array([universe.get_loc(v) if pd.notna(v) else -1 for v in series])
    np.testing.assert_array_equal(solver.positions(series, universe), expected)
