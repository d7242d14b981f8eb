"""The exploration slice: published probabilities match the draw, reproducible, one per account."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from advocacy.policy import exploration
from advocacy.settings import Settings

AS_OF = date(2025, 3, 3)


def _pool() -> pd.DataFrame:
    """Accounts of 1, 2 and 5 eligible contacts (unequal m_a), shuffled."""
    sizes = {"a1": 1, "a2": 2, "a3": 5, "a4": 1, "a5": 2, "a6": 3}
    rows = [(f"{a}c{i}", a) for a, m in sizes.items() for i in range(m)]
    return pd.DataFrame(rows, columns=["contact_id", "account_id"]).sample(frac=1, random_state=0)


def _settings(share: float = 1.0, **budgets: int) -> Settings:
    budgets = budgets or {"review": 2, "referral": 1}
    return Settings.model_validate(
        {"asks": {"budgets": budgets, "explore_share": share}, "ranking": {"list_length": 100}}
    )


def test_empirical_inclusion_matches_published_probability() -> None:
    pool, settings = _pool(), _settings()  # list size 3 -> 3 explore asks among 6 accounts
    published = exploration.inclusion_probabilities(pool, settings)
    runs = 2000
    drawn = []
    for seed in range(runs):
        asks = settings.asks.model_copy(update={"explore_seed": seed})
        drawn.extend(
            exploration.draw(pool, AS_OF, settings.model_copy(update={"asks": asks}))["contact_id"]
        )
    freq = pd.Series(drawn).value_counts().reindex(published.index, fill_value=0) / runs
    se = np.sqrt(published * (1 - published) / runs)
    assert published["a3c0"] == pytest.approx(3 / 6 / 5)
    assert published.sum() == pytest.approx(3)
    assert ((freq - published).abs() <= 4 * se + 1e-9).all()


def test_reproducible_independent_of_order_and_different_by_date() -> None:
    pool, settings = _pool(), _settings()
    a = exploration.draw(pool, AS_OF, settings)
    b = exploration.draw(pool.sample(frac=1, random_state=5), AS_OF, settings)
    pd.testing.assert_frame_equal(a, b)
    others = [exploration.draw(pool, date(2025, 3, d), settings) for d in range(4, 14)]
    assert any(not o.equals(a) for o in others)
    assert not a["account_id"].duplicated().any()
    assert list(a.columns) == list(exploration.DRAW_COLUMNS)


def test_types_split_by_budget_and_share_rounded() -> None:
    assert exploration.split_by_budget(10, {"review": 40, "referral": 25, "case_study": 2}) == {
        "review": 6,
        "referral": 4,
    }
    settings = _settings(0.5, review=3, referral=1)  # list size 4 -> 2 explore asks
    drawn = exploration.draw(_pool(), AS_OF, settings)
    assert len(drawn) == 2
    assert drawn["activity_type"].value_counts().to_dict() == {"review": 2}  # 1.5 vs 0.5: tie order


def test_more_asks_than_accounts_and_empty_pool() -> None:
    settings = _settings(1.0, review=50)
    drawn = exploration.draw(_pool(), AS_OF, settings)
    assert len(drawn) == 6  # one per account, not more
    assert exploration.inclusion_probabilities(_pool(), settings)["a3c1"] == pytest.approx(1 / 5)
    empty = exploration.draw(_pool().iloc[:0], AS_OF, settings)
    assert empty.empty and list(empty.columns) == list(exploration.DRAW_COLUMNS)
    assert exploration.inclusion_probabilities(_pool().iloc[:0], settings).empty
