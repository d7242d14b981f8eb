"""monitoring/backtest.py on a hand-built world whose realised numbers are known exactly."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from advocacy.monitoring import backtest as bt
from advocacy.settings import Settings
from tests.feature_worlds import World

T = date(2024, 6, 3)


def _day(n: int) -> pd.Timestamp:
    return pd.Timestamp(T) + pd.Timedelta(days=n)


def world(end_day: int) -> World:
    """Asks after T: C1 yes (first of two), C2 no, C3 outside the window, C5 cancelled.
    Active advocates at T: C4, C6 (opts out at T+50: burnout), C7."""
    w = World().account()
    for cid in ("C1", "C2", "C3", "C4", "C5", "C7"):
        w.contact(cid)
    w.contact("C6", advocacy_opt_out_at=_day(50))
    w.activity("C1", _day(2), "completed", _day(10))
    w.activity("C1", _day(20), "declined")
    w.activity("C2", _day(5), "declined")
    w.activity("C3", _day(40), "completed", _day(45))
    w.activity("C5", _day(3), "cancelled")
    w.activity("C4", _day(-10), "completed", _day(-5))
    w.activity("C6", _day(-100), "completed", _day(-90))
    w.activity("C7", None, "completed", _day(-30))  # unprompted
    w.usage("C7", _day(end_day))  # the files' newest row
    return w


SCORED = pd.DataFrame(
    {
        "contact_id": ["C1", "C2", "C3", "C4", "C5", "C6", "C7"],
        "p_advocate": [0.6, 0.2, 0.3, 0.5, 0.5, 0.5, 0.5],
        "p_burnout": [0.1, 0.1, 0.1, 0.1, 0.1, 0.8, 0.2],
        "nps_latest": [3.0, 9.0, None, None, None, None, None],
    }
)
LISTED = pd.DataFrame({"contact_id": ["C1", "C3"], "p_advocate": [0.6, 0.3]})


def _measure(tmp_path, end_day: int, end: pd.Timestamp | None = None) -> dict:
    con = world(end_day).connect(tmp_path)
    try:
        end = end or bt.data_end(con)
        return bt.measure_date(con, T, SCORED, LISTED, Settings(), end=end, base_rate=0.5)
    finally:
        con.close()


def test_realised_numbers_of_a_closed_date(tmp_path):
    row = _measure(tmp_path, end_day=200)
    assert row["data_end"] == _day(200)
    assert (row["n_asks_after"], row["asks_yes"]) == (2, 1)  # C1 (first ask), C2
    assert row["auc_advocate"] == pytest.approx(1.0)  # C1 0.6 > C2 0.2
    assert row["auc_advocate_nps_rule"] == pytest.approx(0.0)  # NPS 3 vs 9: the rule is wrong
    assert (row["n_advocates"], row["n_burnouts"]) == (3, 1)  # C4, C6 (opt-out), C7
    assert row["auc_burnout"] == pytest.approx(1.0)
    assert (row["list_n"], row["list_asked"], row["list_yes"], row["list_pending"]) == (2, 1, 1, 0)
    assert row["list_expected_yes"] == pytest.approx(0.6)  # C3 was asked after the window


def test_log_loss_is_models_evaluate(tmp_path):
    import numpy as np

    row = _measure(tmp_path, end_day=200)
    assert row["log_loss_advocate"] == pytest.approx(-(np.log(0.6) + np.log(0.8)) / 2)


def test_open_windows_give_empty_cells_never_a_guess(tmp_path):
    row = _measure(tmp_path, end_day=45)  # list closed (T+30); asks (T+60), burnout (T+90) open
    assert all(row[c] is None for c in bt.ADVOCATE_COLUMNS + bt.BURNOUT_COLUMNS)
    assert row["list_asked"] == 1
    row = _measure(tmp_path / "b", end_day=45, end=_day(20))  # as if the export ended at T+20
    assert all(row[c] is None for c in bt.ADVOCATE_COLUMNS + bt.BURNOUT_COLUMNS + bt.LIST_COLUMNS)


def test_closing_days_follow_the_windows():
    when = bt.closes(T, Settings())
    assert when["advocate_closes"] == T + timedelta(days=60)
    assert when["burnout_closes"] == T + timedelta(days=90)
    assert when["list_closes"] == T + timedelta(days=30)
