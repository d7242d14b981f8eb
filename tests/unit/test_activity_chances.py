"""Chance of yes per activity type (policy.activity.chance_by_type) and its shared rate grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advocacy.data_contracts.tables import ACTIVITY_TYPES
from advocacy.features.facts import AskHistory
from advocacy.policy.activity import P_CLIP, chance_by_type, odds_shift, suggest_activity
from advocacy.settings import Settings

NONE = pd.DataFrame(columns=["contact_id", "activity_type"])


def _asks(rows):
    return pd.DataFrame(rows, columns=["contact_id", "persona", "activity_type", "label"])


def _preferences():
    """Executives say yes to advisory boards, end users to reviews (30 asks each way)."""
    return _asks(
        [(f"X{i}", "executive", "advisory_board", int(i < 24)) for i in range(30)]
        + [(f"Y{i}", "executive", "review", int(i < 6)) for i in range(30)]
        + [(f"Z{i}", "end_user", "review", int(i < 24)) for i in range(30)]
        + [(f"W{i}", "end_user", "advisory_board", int(i < 6)) for i in range(30)]
    )


def _h(asks, acts=NONE):
    return AskHistory(decided_asks=asks, unprompted=acts)


def _candidates(p=0.3):
    return pd.DataFrame(
        {"contact_id": ["E", "U"], "persona": ["executive", "end_user"], "p_advocate": [p, p]}
    )


def test_every_candidate_gets_every_type_and_preferences_move_the_odds():
    got = chance_by_type(_h(_preferences()), _candidates(), Settings())
    assert list(got.columns) == ["contact_id", "activity_type", "p_yes"]
    assert len(got) == 2 * len(ACTIVITY_TYPES)
    assert set(got["activity_type"]) == set(ACTIVITY_TYPES)
    p = got.set_index(["contact_id", "activity_type"])["p_yes"]
    assert p["E", "advisory_board"] > 0.3 > p["E", "review"]
    assert p["U", "review"] > 0.3 > p["U", "advisory_board"]
    assert got["p_yes"].between(P_CLIP, 1 - P_CLIP).all()


def test_suggestion_is_the_best_chance_among_types_ever_asked():
    asks, cands = _preferences(), _candidates()
    chances = chance_by_type(_h(asks), cands, Settings())
    asked = chances[chances["activity_type"].isin(asks["activity_type"])]
    best = asked.loc[asked.groupby("contact_id")["p_yes"].idxmax()]
    suggested = suggest_activity(asks, NONE, cands, Settings())
    assert best.set_index("contact_id")["activity_type"].to_dict() == suggested.to_dict()


def test_equal_rates_across_types_leave_p_advocate_unchanged():
    asks = _asks(
        [(f"A{i}", "admin", t, int(i < 5)) for t in ("review", "referral") for i in range(10)]
    )
    cands = pd.DataFrame({"contact_id": ["N"], "persona": ["admin"], "p_advocate": [0.42]})
    got = chance_by_type(_h(asks), cands, Settings())
    p = got.set_index("activity_type")["p_yes"]
    assert p["review"] == pytest.approx(0.42) and p["referral"] == pytest.approx(0.42)


def test_no_history_and_zero_weight_give_p_advocate_clipped():
    cands = pd.DataFrame(
        {"contact_id": ["A", "B", "C"], "persona": ["admin"] * 3, "p_advocate": [0.0, 0.2, 1.0]}
    )
    for asks, weight in ((_asks([]), 1.0), (_preferences(), 0.0)):
        got = chance_by_type(_h(asks), cands, Settings(), weight=weight)
        per = got.groupby("contact_id", sort=False)["p_yes"]
        np.testing.assert_allclose(per.min(), [P_CLIP, 0.2, 1 - P_CLIP])
        np.testing.assert_allclose(per.max(), [P_CLIP, 0.2, 1 - P_CLIP])


def test_own_unprompted_acts_raise_that_type_only():
    acts = pd.DataFrame({"contact_id": ["E"] * 4, "activity_type": ["speaking"] * 4})
    types, with_acts = odds_shift(_preferences(), acts, _candidates(), Settings())
    _, without = odds_shift(_preferences(), NONE, _candidates(), Settings())
    speaking = types.index("speaking")
    assert with_acts[0, speaking] > without[0, speaking]
    np.testing.assert_allclose(with_acts[1], without[1])  # the other contact is untouched


def test_duplicate_candidates_are_refused():
    cands = pd.concat([_candidates(), _candidates()])
    with pytest.raises(ValueError, match="once"):
        chance_by_type(_h(_preferences()), cands, Settings())
