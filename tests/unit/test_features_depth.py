"""Known answers for the deeper features (issue 10): NPS direction, the ask history of the last
year, smoothed acceptance (settled asks only) and the colleagues' record at the account."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advocacy.features import advocacy, build
from advocacy.settings import Settings
from tests.feature_worlds import T_TS, T, World, one_contact_world

SETTINGS = Settings()


def _scoring(world: World, tmp_path) -> pd.DataFrame:
    con = world.connect(tmp_path)
    try:
        return build.build_scoring(con, T, SETTINGS).set_index("contact_id")
    finally:
        con.close()


def test_nps_slope_reads_the_last_three_answers_before_t(tmp_path):
    w = one_contact_world().contact("C2")
    w.nps("C1", "2023-01-01", 10).nps("C1", "2024-01-01", 3).nps("C1", "2024-03-01", 6)
    w.nps("C1", "2024-05-01", 9).nps("C1", T_TS, 0)  # the answer at T is not seen
    w.nps("C2", "2024-03-01", 9).nps("C2", "2024-05-01", 4)  # two answers: no slope
    frame = _scoring(w, tmp_path)
    assert frame.loc["C1", "nps_slope_last3"] == pytest.approx((9 - 3) / 2)
    assert np.isnan(frame.loc["C2", "nps_slope_last3"])


def _ask_history() -> World:
    """C1's asks around the 365-day and the 30-day response-window edges."""
    w = one_contact_world()
    w.activity("C1", "2023-05-01", "completed", "2023-05-10")  # a year ago: yes
    w.activity("C1", "2023-06-03 23:59", "declined")  # just outside 365 days: no
    w.activity("C1", "2023-06-04", "completed", "2023-06-05")  # exactly 365 days back: yes
    w.activity("C1", "2024-04-01", "completed", "2024-04-20")  # yes
    w.activity("C1", "2024-04-10", "completed", "2024-05-20")  # completed after 30 days: no
    w.activity("C1", "2024-05-01", "no_response")  # window closed 2024-05-31: no
    w.activity("C1", "2024-05-10", "declined")  # window open at T: outcome not settled
    w.activity("C1", "2024-05-20", "completed", "2024-06-05")  # completed after T: pending
    w.activity("C1", "2024-05-25", "cancelled")
    w.activity("C1", None, "completed", "2024-02-01")  # unprompted: not an ask
    return w


def test_asks_in_the_last_year_count_from_t_minus_365_days(tmp_path):
    c1 = _scoring(_ask_history(), tmp_path).loc["C1"]
    assert c1["adv_asks"] == 9
    assert c1["adv_asks_365d"] == 7  # from 2023-06-04 00:00 (2024 has a 29 February)


def test_smoothed_acceptance_uses_only_asks_whose_window_closed_before_t(tmp_path):
    c1 = _scoring(_ask_history(), tmp_path).loc["C1"]
    # settled: 6 asks (3 yes); the declined ask at 2024-05-10 is not settled at T
    prior = advocacy.PRIOR_WEIGHT * advocacy.ACCEPTANCE_PRIOR
    assert c1["adv_acceptance_smoothed"] == pytest.approx((3 + prior) / (6 + 3))
    # the plain rate leaves that decline out too: 4 done / (4 done + 1 declined + 1 silent)
    assert c1["adv_acceptance_rate"] == pytest.approx(4 / 6)


def test_smoothed_acceptance_ignores_the_outcome_of_an_unsettled_ask(tmp_path):
    """Two worlds that differ only in the answer to an ask still inside its window at T."""
    values = []
    for status in ("declined", "no_response", "pending"):
        w = one_contact_world()
        w.activity("C1", "2024-01-10", "completed", "2024-01-15")
        w.activity("C1", "2024-05-20", status)
        values.append(_scoring(w, tmp_path / status).loc["C1", "adv_acceptance_smoothed"])
    assert values == pytest.approx([(1 + 1.2) / (1 + 3)] * 3)


def _colleagues() -> World:
    """A1: C1, C2, C3 (colleagues); A2: C4 (another account, never a colleague)."""
    w = one_contact_world().contact("C2").contact("C3").account("A2").contact("C4", "A2")
    w.nps("C1", "2024-05-01", 2)  # C1's own detractor answer
    w.nps("C2", "2024-01-01", 9).nps("C2", "2024-05-01", 5)  # latest: detractor
    w.nps("C3", "2024-01-01", 3).nps("C3", "2024-05-01", 9).nps("C3", T_TS, 0)  # latest seen: 9
    w.nps("C4", "2024-05-01", 0)
    w.activity("C1", "2024-01-10", "completed", "2024-01-15")  # settled yes
    w.activity("C1", "2024-02-10", "no_response")  # settled no
    w.activity("C2", "2024-03-01", "completed", "2024-04-20")  # completed late: settled no
    w.activity("C2", "2024-05-20", "declined")  # window open at T
    w.activity("C2", "2024-05-25", "completed", "2024-06-10")  # completed after T: pending
    w.activity("C3", T_TS, "declined")  # asked at T: not seen
    w.activity("C3", None, "completed", "2024-03-01")  # unprompted: not an ask
    w.activity("C4", "2024-01-10", "completed", "2024-01-11")
    return w


PEERS = ["peer_asks", "peer_completions", "peer_acceptance_smoothed", "peer_nps_answered"]


def test_peer_features_count_the_other_contacts_of_the_account(tmp_path):
    frame = _scoring(_colleagues(), tmp_path)
    got = {
        cid: [*frame.loc[cid, PEERS], frame.loc[cid, "peer_detractor_share"]] for cid in frame.index
    }
    assert got["C1"] == pytest.approx([3, 1, (0 + 1.2) / (1 + 3), 2, 1 / 2])  # C2 and C3
    assert got["C2"] == pytest.approx([2, 1, (1 + 1.2) / (2 + 3), 2, 1 / 2])  # C1 and C3
    assert got["C3"] == pytest.approx([5, 2, (1 + 1.2) / (3 + 3), 2, 2 / 2])  # C1 and C2
    assert got["C4"][:4] == pytest.approx([0, 0, advocacy.ACCEPTANCE_PRIOR, 0])
    assert np.isnan(got["C4"][4])  # nobody else at A2 answered NPS


def test_peer_features_of_a_training_row_see_colleagues_strictly_before_its_t(tmp_path):
    """At t = C2's ask time, that ask is not yet made; C1's second ask is not yet settled."""
    con = _colleagues().connect(tmp_path)
    t = pd.Timestamp("2024-03-01")
    points = pd.DataFrame({"contact_id": ["C1", "C3"], "account_id": ["A1", "A1"], "t": [t, t]})
    frame = build.build_features(con, points, T, SETTINGS).set_index("contact_id")
    con.close()
    assert [*frame.loc["C1", PEERS], frame.loc["C1", "peer_detractor_share"]] == pytest.approx(
        [0, 0, advocacy.ACCEPTANCE_PRIOR, 2, 1 / 2]  # no ask before t; C2 said 9, C3 said 3
    )
    assert [*frame.loc["C3", PEERS], frame.loc["C3", "peer_detractor_share"]] == pytest.approx(
        [2, 1, (1 + 1.2) / (1 + 3), 1, 0]  # C1's asks; C2's promoter answer
    )
