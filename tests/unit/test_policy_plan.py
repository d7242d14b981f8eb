"""The ask plan: budgets, caps, one ask per person, the explore share; greedy never beats it."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.policy.plan import BY_ACTIVITY_COLUMNS, LISTED_COLUMNS, greedy_plan, make_plan
from advocacy.settings import Settings

AS_OF = date(2025, 3, 3)


def _world(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pool = pd.DataFrame(
        {
            "contact_id": [f"c{i:04d}" for i in range(n)],
            "account_id": [f"a{i % (n // 6):03d}" for i in rng.permutation(n)],
            "p_burnout": rng.beta(1, 9, n),
            "priority": rng.random(n),
        }
    )
    chances = pool[["contact_id"]].merge(
        pd.DataFrame({"activity_type": ACTIVITY_TYPES}), how="cross"
    )
    chances["p_yes"] = rng.beta(2, 8, len(chances))
    return chances, pool


def _within_budgets(listed: pd.DataFrame, budgets: dict[str, int]) -> bool:
    return all(n <= budgets.get(t, 0) for t, n in listed["activity_type"].value_counts().items())


def _settings(**asks) -> Settings:
    return Settings.model_validate({"asks": asks, "ranking": {"max_per_account": 2}})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_honours_budgets_caps_and_explore_share(seed: int) -> None:
    chances, pool = _world(seed=seed)
    settings = _settings()
    plan = make_plan(chances, pool, AS_OF, settings)
    listed = plan.listed
    assert list(listed.columns) == list(LISTED_COLUMNS)
    assert list(plan.by_activity.columns) == list(BY_ACTIVITY_COLUMNS)
    budgets = settings.asks.budgets
    assert _within_budgets(listed, budgets)
    assert not listed["contact_id"].duplicated().any()
    assert listed["account_id"].value_counts().max() <= 2
    assert len(listed) <= min(settings.ranking.list_length, sum(budgets.values()))
    explore = listed[listed["selection"] == "explore"]
    assert len(explore) == 10  # 10% of 100
    assert (explore["inclusion_probability"] < 1).all()
    assert (listed.loc[listed["selection"] == "optimise", "inclusion_probability"] == 1.0).all()
    assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
    assert listed["expected_value"].is_monotonic_decreasing
    assert set(listed["contact_id"]) <= set(pool["contact_id"])
    row = plan.by_activity.set_index("activity_type").loc["review"]
    assert row["filled"] == (listed["activity_type"] == "review").sum()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_greedy_never_beats_the_optimiser(seed: int) -> None:
    chances, pool = _world(240, seed)
    settings = _settings(explore_share=0.0 if seed % 2 else 0.1)
    plan = make_plan(chances, pool, AS_OF, settings)
    table = plan.by_activity
    assert table["value"].sum() >= table["greedy_value"].sum() - 1e-9
    explore = plan.listed[plan.listed["selection"] == "explore"]
    greedy = greedy_plan(chances, pool, settings, explore)
    assert greedy["expected_value"].sum() == pytest.approx(table["greedy_value"].sum())
    assert _within_budgets(greedy, settings.asks.budgets)


def test_no_explore_means_plain_optimum_and_unfilled_budget_is_explained() -> None:
    chances, pool = _world(60)
    settings = _settings(explore_share=0.0, budgets={"review": 500, "referral": 1})
    plan = make_plan(chances, pool, AS_OF, settings)
    assert (plan.listed["selection"] == "optimise").all()
    assert (plan.listed["activity_type"] == "review").sum() < 500
    assert any(m.startswith("review:") for m in plan.messages)


@pytest.mark.parametrize(
    ("settings", "pool_rows", "words"),
    [
        (_settings(budgets={t: 0 for t in ACTIVITY_TYPES}), None, "every activity budget is 0"),
        (_settings(), 0, "Nobody is eligible"),
    ],
)
def test_empty_budgets_or_pool_give_an_empty_plan_with_a_message(
    settings, pool_rows, words
) -> None:
    chances, pool = _world(60)
    pool = pool.iloc[: pool_rows if pool_rows is not None else len(pool)]
    plan = make_plan(chances, pool, AS_OF, settings)
    assert plan.listed.empty and list(plan.listed.columns) == list(LISTED_COLUMNS)
    assert any(words in m for m in plan.messages)
    assert (plan.by_activity["filled"] == 0).all()


def _plain_greedy(chances, pool, settings, explore) -> list[tuple[str, str]]:
    """The greedy pass written out row by row: the reference for the vectorised one."""
    a = settings.asks
    info = pool.set_index("contact_id")
    best: dict[str, tuple[float, str]] = {}
    for c, t, p in chances[["contact_id", "activity_type", "p_yes"]].itertuples(index=False):
        if c not in info.index or t not in a.activity_value or c in set(explore["contact_id"]):
            continue
        v = a.activity_value[t] * p - a.burnout_weight * info.at[c, "p_burnout"]
        if c not in best or (-v, t) < (-best[c][0], best[c][1]):
            best[c] = (v, t)
    key = (lambda c: info.at[c, "priority"]) if "priority" in pool else (lambda c: best[c][0])
    room = {t: n for t, n in a.budgets.items() if n > 0}
    per_account: dict[str, int] = {}
    for t, acc in zip(explore["activity_type"], explore["account_id"], strict=True):
        room[t] = room.get(t, 0) - 1
        per_account[acc] = per_account.get(acc, 0) + 1
    left = min(settings.ranking.list_length, sum(a.budgets.values())) - len(explore)
    picks = []
    for c in sorted(best, key=lambda c: (-key(c), c)):
        t, acc = best[c][1], info.at[c, "account_id"]
        if (
            left > 0
            and room.get(t, 0) > 0
            and per_account.get(acc, 0) < settings.ranking.max_per_account
        ):
            room[t] -= 1
            per_account[acc] = per_account.get(acc, 0) + 1
            left -= 1
            picks.append((c, t))
    return sorted(picks + list(zip(explore["contact_id"], explore["activity_type"], strict=True)))


@pytest.mark.parametrize("seed", range(8))
def test_greedy_equals_a_plain_row_by_row_pass(seed: int) -> None:
    """Ties in p_yes and priority, a pool without priority, an explore slice, tight budgets."""
    chances, pool = _world(90, seed)
    chances["p_yes"] = (chances["p_yes"] * 4).round() / 4
    pool["priority"] = (pool["priority"] * 3).round()
    if seed % 3 == 0:
        pool = pool.drop(columns="priority")
    chances = chances.sample(frac=0.8, random_state=seed)
    budgets = {"reference_call": 2, "review": 6, "referral": 3} if seed % 2 else {}
    settings = _settings(explore_share=0.2, **({"budgets": budgets} if budgets else {}))
    explore = make_plan(chances, pool, AS_OF, settings).listed
    explore = explore[explore["selection"] == "explore"] if seed % 4 else explore.iloc[:0]
    greedy = greedy_plan(chances, pool, settings, explore)
    got = sorted(zip(greedy["contact_id"], greedy["activity_type"], strict=True))
    assert got == _plain_greedy(chances, pool, settings, explore)
    assert len(greedy) > len(explore)
