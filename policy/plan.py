"""This week's list as an exact ask plan: who is asked for what, under this week's needs.

Each eligible contact gets at most one ask of one type. The plan maximises the expected value
sum(activity_value[type] * p_yes - burnout_weight * p_burnout) under the activity budgets
(`asks.budgets`), the account cap (`ranking.max_per_account`) and the list size
(min(`ranking.list_length`, sum of budgets)); the per-contact cooldown and the max asks per
90 / 365 days are eligibility rules (`eligibility.*`), applied before the pool reaches here.
The exploration slice (policy/exploration.py) is drawn first; the exact assignment
(policy/solver.py) fills the rest. `greedy_plan` is the old way under the same rules, for
the report's comparison. docs/ask-plan.md explains the method.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.policy import exploration, solver
from advocacy.settings import Settings

log = logging.getLogger(__name__)

LISTED_COLUMNS = (
    "contact_id",
    "account_id",
    "activity_type",
    "selection",
    "inclusion_probability",
    "p_yes",
    "p_burnout",
    "expected_value",
    "rank",
)
BY_ACTIVITY_COLUMNS = (
    "activity_type",
    "budget",
    "filled",
    "explored",
    "expected_yes",
    "expected_burnouts",
    "value",
    "greedy_filled",
    "greedy_expected_yes",
    "greedy_expected_burnouts",
    "greedy_value",
)


@dataclass(frozen=True)
class AskPlan:
    """This week's list, its per-activity table and plain-word notes.

    listed: LISTED_COLUMNS (selection 'optimise' | 'explore'; inclusion_probability exact for
    explore, 1.0 for optimise; rank 1-based by expected_value desc, ties contact_id).
    by_activity: BY_ACTIVITY_COLUMNS, one row per activity type with a budget or an ask.
    messages: unfilled budgets and why, an empty pool, no budgets.
    """

    listed: pd.DataFrame
    by_activity: pd.DataFrame
    messages: tuple[str, ...]


@dataclass(frozen=True)
class _Edges:
    """The scored (pool contact, type) pairs with a value, as numpy arrays on integer codes.

    Built once per plan, so the exploration rows, the exact assignment, the greedy comparison
    and the messages never hash the millions of string ids again.
    """

    chances: pd.DataFrame
    pool: pd.DataFrame
    ids: pd.Index  # pool contact ids (unique)
    pos: np.ndarray  # row of each edge in `chances`
    row: np.ndarray  # row of each edge's contact in `pool`
    kind: np.ndarray  # each edge's type, a code into `types`
    types: pd.Index  # the valued activity types, sorted (ties break by name)
    value: np.ndarray  # expected_value of each edge
    account: np.ndarray  # per pool row: account code, in account id order
    accounts: pd.Index  # account ids, sorted
    rank: np.ndarray  # per pool row: rank of its contact id

    def frame(self, idx: np.ndarray) -> pd.DataFrame:
        """`edge_values` columns for the edges at idx, in that order."""
        at = self.row[idx]
        e = self.chances[["contact_id", "activity_type", "p_yes"]].iloc[self.pos[idx]]
        e = e.reset_index(drop=True)
        cols = ["account_id", "p_burnout"] + (["priority"] if "priority" in self.pool else [])
        for col in cols:
            e[col] = self.pool[col].array.take(at)
        e["expected_value"] = self.value[idx]
        return e


def _encode_edges(chances: pd.DataFrame, pool: pd.DataFrame, settings: Settings) -> _Edges:
    """Edge codes and values: activity_value[type] * p_yes - burnout_weight * p_burnout."""
    a = settings.asks
    ids = pd.Index(pool["contact_id"])
    types = pd.Index(sorted(a.activity_value))
    at = solver.positions(chances["contact_id"], ids)
    kind = solver.positions(chances["activity_type"], types)
    hit = np.flatnonzero((at >= 0) & (kind >= 0))
    worth = np.array([a.activity_value[t] for t in types], dtype=float)
    p_yes = chances["p_yes"].to_numpy(dtype=float, na_value=np.nan)[hit]
    burnout = pool["p_burnout"].to_numpy(dtype=float, na_value=np.nan)
    value = worth[kind[hit]] * p_yes - a.burnout_weight * burnout[at[hit]]
    ok = ~np.isnan(value)
    account, accounts = solver.sorted_codes(pool["account_id"])
    rank = np.empty(len(pool), dtype=np.int64)
    rank[pool["contact_id"].array.argsort(kind="stable")] = np.arange(len(pool))
    return _Edges(
        chances, pool, ids, hit[ok], at[hit][ok], kind[hit][ok], types, value[ok],
        account, accounts, rank,
    )  # fmt: skip


def edge_values(chances: pd.DataFrame, pool: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """One row per (eligible contact, activity type): the ask's p_yes, p_burnout, expected_value.

    expected_value = activity_value[type] * p_yes - burnout_weight * p_burnout.
    """
    e = _encode_edges(chances, pool, settings)
    return e.frame(np.arange(e.pos.size))


def make_plan(
    chances: pd.DataFrame, pool: pd.DataFrame, as_of: date, settings: Settings
) -> AskPlan:
    """The exploration draw, then the exact assignment on the rest (see the module docstring).

    chances: contact_id, activity_type, p_yes. pool: eligible contacts with contact_id,
    account_id, p_burnout, priority. Never raises on an empty pool or zero budgets.
    """
    budgets = {t: n for t, n in settings.asks.budgets.items() if n > 0}
    size = exploration.list_size(settings)
    if size == 0:
        return _empty(settings, ("No asks this week: every activity budget is 0.",))
    if pool.empty:
        return _empty(settings, ("Nobody is eligible to be asked this week.",))
    edges = _encode_edges(chances, pool, settings)
    explore = _explore_rows(exploration.draw(pool, as_of, settings), edges)
    rest = _optimise(edges, explore, budgets, size, settings)
    listed = _ranked(pd.concat([explore, rest], ignore_index=True))
    greedy = _greedy(edges, settings, explore)
    table = _by_activity(listed, greedy, budgets)
    msgs = _messages(table, edges, explore, size, settings)
    log.info("ask plan: %d listed (%d explore) of %d", len(listed), len(explore), size)
    return AskPlan(listed, table, msgs)


def _of_contacts(edges: _Edges, contact_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Pool rows of a few contacts (-1 = not in the pool), and the indices of their edges."""
    rows = edges.ids.get_indexer(contact_ids)
    mark = np.zeros(len(edges.ids), dtype=bool)
    mark[rows[rows >= 0]] = True
    return rows, np.flatnonzero(mark[edges.row])


def _explore_rows(drawn: pd.DataFrame, edges: _Edges) -> pd.DataFrame:
    """The drawn explore asks with their chances and values (NaN where no chance was scored)."""
    rows, idx = _of_contacts(edges, drawn["contact_id"])
    vals = edges.frame(idx)[["contact_id", "activity_type", "p_yes", "expected_value"]]
    out = drawn.merge(vals, on=["contact_id", "activity_type"], how="left")
    burnout = edges.pool[["contact_id", "p_burnout"]].iloc[rows[rows >= 0]]
    out = out.merge(burnout, on="contact_id", how="left")
    return out.assign(selection="explore")


def _optimise(
    edges: _Edges,
    explore: pd.DataFrame,
    budgets: dict[str, int],
    size: int,
    settings: Settings,
) -> pd.DataFrame:
    """solver.assign on the contacts and budgets the exploration slice left."""
    left = {t: n - int((explore["activity_type"] == t).sum()) for t, n in budgets.items()}
    rows, taken = _of_contacts(edges, explore["contact_id"])
    keep = np.ones(edges.pos.size, dtype=bool)
    keep[taken] = False
    rest = np.flatnonzero(keep)
    at = edges.row[rest]
    if (edges.account[at] < 0).any():
        raise ValueError("assign: column 'group' has missing (NaN) values")
    used = np.bincount(edges.account[rows[rows >= 0]], minlength=len(edges.accounts))
    caps = np.maximum(settings.ranking.max_per_account - used, 0)
    chosen = solver.assign_codes(
        edges.value[rest],
        edges.kind[rest],
        edges.rank[at],
        edges.account[at],
        slot_cap=np.array([left.get(t, 0) for t in edges.types], dtype=np.int64),
        group_cap=caps,
        person_cap=1,
        total=size - len(explore),
    )
    out = edges.frame(rest[chosen])
    return out.assign(selection="optimise", inclusion_probability=1.0)


def _ranked(listed: pd.DataFrame) -> pd.DataFrame:
    out = listed.sort_values(
        ["expected_value", "contact_id"],
        ascending=[False, True],
        na_position="last",
        kind="mergesort",
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out[list(LISTED_COLUMNS)]


def greedy_plan(
    chances: pd.DataFrame,
    pool: pd.DataFrame,
    settings: Settings,
    explore: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The old way under the same rules: contacts by priority (desc, ties contact_id), each
    takes its best-value type if that type's budget has room, within the account cap and the
    list size; the same exploration slice (if given) is kept and counted first. Valued with
    `edge_values`, so it compares with `make_plan` like for like."""
    return _greedy(_encode_edges(chances, pool, settings), settings, explore)


def _greedy(edges: _Edges, settings: Settings, explore: pd.DataFrame | None) -> pd.DataFrame:
    empty = edges.frame(np.zeros(0, dtype=np.int64))
    if explore is None:
        explore = empty.assign(selection="explore", inclusion_probability=1.0)
    room = np.array([settings.asks.budgets.get(t, 0) for t in edges.types], dtype=np.int64)
    kinds = edges.types.get_indexer(explore["activity_type"])
    np.subtract.at(room, kinds[kinds >= 0], 1)
    accs = edges.accounts.get_indexer(explore["account_id"])
    per_account = np.bincount(accs[accs >= 0], minlength=len(edges.accounts))
    _, taken = _of_contacts(edges, explore["contact_id"])
    contacts, kind, _ = _best_type(edges, taken)
    acc = edges.account[contacts]
    left = exploration.list_size(settings) - len(explore)
    picks = _greedy_picks(kind, acc, room, per_account, settings.ranking.max_per_account, left)
    idx = _edge_of(edges, contacts[picks], kind[picks])
    chosen = edges.frame(idx).assign(selection="optimise", inclusion_probability=1.0)
    return _ranked(pd.concat([explore, chosen], ignore_index=True))


def _best_type(edges: _Edges, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per contact (pool rows) its best-value type (ties by type name) and that value, the
    contacts in priority order (desc, ties contact_id; without priority: by that value)."""
    n, k = len(edges.ids), len(edges.types)
    mine = np.ones(edges.pos.size, dtype=bool)
    mine[taken] = False
    row, flat, value = edges.row[mine], edges.row[mine] * k + edges.kind[mine], edges.value[mine]
    best = np.full(n * k, -np.inf)
    best[flat] = value
    if (best[flat] != value).any():  # a (contact, type) pair listed twice: keep its best value
        np.maximum.at(best, flat, value)
    best = best.reshape(n, k)
    has = np.zeros(n, dtype=bool)
    has[row] = True
    contacts = np.flatnonzero(has)
    kind = best[contacts].argmax(axis=1) if k else np.zeros(0, dtype=np.int64)
    val = best[contacts, kind]
    pool = edges.pool
    key = val
    if "priority" in pool:
        key = pool["priority"].to_numpy(dtype=float, na_value=np.nan)[contacts]
    order = np.lexsort((edges.rank[contacts], -key))
    return contacts[order], kind[order], val[order]


def _greedy_picks(
    kind: np.ndarray,
    acc: np.ndarray,
    room: np.ndarray,
    per_account: np.ndarray,
    cap: int,
    left: int,
) -> np.ndarray:
    """Positions taken by the greedy pass: in order, a contact is taken if its type has room,
    its account is under the cap and the list is not full.

    Room and cap only ever shrink, so a contact refused once is refused for good: each window
    is masked once, and only re-masked when a pick fills its type or its account; every other
    step is a pick, so the Python loop runs about list-size times.
    """
    room, per_account, picks = room.copy(), per_account.copy(), []
    pos, width, n = 0, 4096, kind.size
    while left > 0 and pos < n:
        end = min(n, pos + width)
        kw, aw = kind[pos:end], acc[pos:end]
        ok = (room[kw] > 0) & (per_account[aw] < cap)
        cand = np.flatnonzero(ok)
        i = 0
        while i < cand.size and left > 0:
            j = int(cand[i])
            t, a = kw[j], aw[j]
            picks.append(pos + j)
            room[t] -= 1
            per_account[a] += 1
            left -= 1
            i += 1
            if room[t] <= 0 or per_account[a] >= cap:
                rest = cand[i:]
                cand = rest[(room[kw[rest]] > 0) & (per_account[aw[rest]] < cap)]
                i = 0
        pos, width = end, 2 * width
    return np.array(picks, dtype=np.int64)


def _edge_of(edges: _Edges, contacts: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Index of the best (contact, type) edge for each of a few contacts, in their order."""
    want = np.full(len(edges.ids), -1, dtype=np.int64)
    want[contacts] = kind
    idx = np.flatnonzero(want[edges.row] == edges.kind)
    idx = idx[np.argsort(-edges.value[idx], kind="stable")]  # a repeated pair: its best value
    first = pd.Series(idx).groupby(edges.row[idx], sort=False).first()
    return first.reindex(contacts).to_numpy(dtype=np.int64)


def _totals(listed: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    g = listed.groupby("activity_type")
    return pd.DataFrame(
        {
            f"{prefix}filled": g.size(),
            f"{prefix}expected_yes": g["p_yes"].sum(),
            f"{prefix}expected_burnouts": g["p_burnout"].sum(),
            f"{prefix}value": g["expected_value"].sum(),
        }
    )


def _by_activity(
    listed: pd.DataFrame, greedy: pd.DataFrame, budgets: dict[str, int]
) -> pd.DataFrame:
    types = [t for t in ACTIVITY_TYPES if t in budgets or t in set(listed["activity_type"])]
    table = pd.DataFrame(index=pd.Index(types, name="activity_type"))
    table["budget"] = [budgets.get(t, 0) for t in types]
    table = table.join(_totals(listed)).join(_totals(greedy, "greedy_"))
    explored = listed[listed["selection"] == "explore"]["activity_type"].value_counts()
    table["explored"] = explored.reindex(types).fillna(0).astype(int)
    table = table.fillna(0.0).reset_index()
    for col in ("filled", "greedy_filled"):
        table[col] = table[col].astype(int)
    return table[list(BY_ACTIVITY_COLUMNS)]


def _messages(
    table: pd.DataFrame, edges: _Edges, explore: pd.DataFrame, size: int, settings: Settings
) -> tuple[str, ...]:
    """Plain words for every budget left unfilled, and why."""
    listed_total = int(table["filled"].sum())
    good = edges.kind[edges.value > 0]  # one edge per (contact, type): assign checked it
    positive = pd.Series(np.bincount(good, minlength=len(edges.types)), index=edges.types)
    out = []
    for row in table.itertuples(index=False):
        if row.filled >= row.budget:
            continue
        head = f"{row.activity_type}: {row.filled} of {row.budget} asks filled"
        if listed_total >= size:
            why = f"the list is full ({size} asks: min(ranking.list_length, sum of budgets))"
        elif int(positive.get(row.activity_type, 0)) < row.budget - row.explored:
            why = (
                f"only {int(positive.get(row.activity_type, 0))} eligible contacts have a positive "
                "expected value for it"
            )
        else:
            why = "the others are better used for other asks, or their accounts are at the cap"
        out.append(f"{head}: {why}.")
    if explore.empty and settings.asks.explore_share > 0:
        out.append("No exploration asks this week (the slice rounds to 0 or nobody is eligible).")
    return tuple(out)


def _empty(settings: Settings, messages: tuple[str, ...]) -> AskPlan:
    budgets = {t: n for t, n in settings.asks.budgets.items() if n > 0}
    listed = pd.DataFrame({c: pd.Series(dtype=object) for c in LISTED_COLUMNS})
    listed = listed.astype(
        {c: float for c in ("inclusion_probability", "p_yes", "p_burnout", "expected_value")}
    )
    listed["rank"] = listed["rank"].astype(int)
    empty = listed.drop(columns=["rank"])
    return AskPlan(listed, _by_activity(empty, empty, budgets), messages)
