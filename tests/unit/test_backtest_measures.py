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


# ---------------------------------------------------------------- off-policy (issue 13)
W = T - timedelta(days=7)  # the earlier list's date


def _wday(n: int) -> pd.Timestamp:
    return pd.Timestamp(W) + pd.Timedelta(days=n)


def _explore_rows(n_review: int, n_case: int) -> pd.DataFrame:
    """Explore rows E00..: reviews then case studies; p 0.1 for even, 0.2 for odd numbers."""
    ids = [f"E{k:02d}" for k in range(n_review + n_case)]
    return pd.DataFrame(
        {
            "contact_id": ids,
            "selection": "explore",
            "inclusion_probability": [0.1 if k % 2 == 0 else 0.2 for k in range(len(ids))],
            "activity_type": ["review"] * n_review + ["case_study"] * n_case,
            "p_advocate": 0.5,
        }
    )


def _ope_world(explore: pd.DataFrame) -> World:
    """Each explore row asked for its type in the window, yes when its number is a multiple of
    3; plus N1 (optimise, not logged), X1 asked for another type, X2 never asked."""
    w = World().account()
    for k, row in enumerate(explore.itertuples()):
        w.contact(row.contact_id)
        done = _wday(4) if k % 3 == 0 else None
        status = "completed" if done is not None else "declined"
        w.activity(row.contact_id, _wday(2), status, done, row.activity_type)
    for cid in ("N1", "X1", "X2"):
        w.contact(cid)
    w.activity("X1", _wday(3), "completed", _wday(5), "testimonial")
    w.activity("E00", _wday(40), "completed", _wday(41))  # after the ask window: not counted
    w.usage("N1", _day(200))
    return w


def _published(root, explore: pd.DataFrame) -> None:
    extra = pd.DataFrame(
        {
            "contact_id": ["N1", "X1", "X2"], "selection": ["optimise", "explore", "explore"],
            "inclusion_probability": [1.0, 0.1, 0.1],
            "activity_type": ["review", "review", "review"], "p_advocate": 0.5,
        }
    )  # fmt: skip
    folder = root / W.isoformat()
    folder.mkdir(parents=True)
    pd.concat([explore, extra]).to_csv(folder / "candidates.csv", index=False)
    (folder / "run.json").write_text("{}")


def _lists(root, optimise: pd.DataFrame, nps_ids: list[str]) -> bt.PolicyLists:
    from advocacy.monitoring import offpolicy

    return bt.PolicyLists(
        selections=offpolicy.published_selections(root, T), optimise=optimise,
        nps=pd.DataFrame({"contact_id": nps_ids}), pool_p_advocate=0.25,
    )  # fmt: skip


def _ope_row(tmp_path, explore, optimise, nps_ids, end_day=200) -> dict:
    _published(tmp_path / "out", explore)
    con = _ope_world(explore).connect(tmp_path / "w")
    try:
        lists = _lists(tmp_path / "out", optimise, nps_ids)
        return bt.measure_date(
            con, T, SCORED, LISTED, Settings(), end=_day(end_day), base_rate=0.5, lists=lists
        )
    finally:
        con.close()


def test_ope_snips_and_ips_from_known_explore_asks(tmp_path):
    import numpy as np

    explore = _explore_rows(30, 10)  # 40 asked explore rows (X1: other type, X2: not asked)
    k = np.arange(40)
    r = (k % 3 == 0).astype(float)
    p = np.where(k % 2 == 0, 0.1, 0.2)
    share = np.where(k < 30, 32 / 42, 10 / 42)  # of the 42 explore rows (X1, X2: reviews)
    optimise = explore.iloc[10:35][["contact_id", "activity_type"]]  # 25 pairs
    optimise = pd.concat(
        [optimise, pd.DataFrame({"contact_id": ["N1"], "activity_type": ["review"]})]
    )
    nps_ids = [f"E{i:02d}" for i in range(0, 40, 2)] + ["N1"]  # 20 logged (p 0.1) + N1
    row = _ope_row(tmp_path, explore, optimise, nps_ids)

    assert (row["ope_n_lists"], row["ope_n_explored"], row["ope_n_logged"]) == (1, 42, 40)
    assert row["ope_logged_yes"] == int(r.sum())
    w = 1.0 / (p * share)
    hit = ((k >= 10) & (k < 35)).astype(float)
    assert row["ope_optimise_snips"] == pytest.approx((hit * w * r).sum() / (hit * w).sum())
    denominator = round(1 * 26 * 40 / 42)  # one list x 26 target pairs x asked share
    assert row["ope_optimise_ips"] == pytest.approx((hit * w * r).sum() / denominator)
    hit = (k % 2 == 0).astype(float)  # the NPS rule's contacts, any type, contact propensity
    assert row["ope_nps_snips"] == pytest.approx((hit * r / p).sum() / (hit / p).sum())
    assert row["ope_nps_ips"] == pytest.approx((hit * r / p).sum() / round(21 * 40 / 42))
    assert row["ope_explore_yes"] == pytest.approx((r / p).sum() / (1 / p).sum())
    assert row["ope_pool_p_advocate"] == 0.25
    for name in ("optimise_snips", "optimise_ips", "nps_snips", "explore_yes"):
        assert row[f"ope_{name}_low"] <= row[f"ope_{name}"] <= row[f"ope_{name}_high"]
    assert row["ope_verdict"].startswith("optimised list: ")
    assert "NPS rule's list: " in row["ope_verdict"] and "too few" not in row["ope_verdict"]


def test_ope_too_few_logged_asks_say_so_plainly(tmp_path):
    explore = _explore_rows(8, 2)
    optimise = explore[["contact_id", "activity_type"]]
    row = _ope_row(tmp_path, explore, optimise, list(explore["contact_id"]))
    assert row["ope_n_logged"] == 10
    assert row["ope_optimise_snips"] is None and row["ope_nps_ips_low"] is None
    assert "too few logged asks to tell (n=10" in row["ope_verdict"]


def test_ope_block_waits_for_two_windows_and_no_lists_leave_it_empty(tmp_path):
    explore = _explore_rows(30, 10)
    optimise = explore[["contact_id", "activity_type"]]
    row = _ope_row(tmp_path, explore, optimise, [], end_day=59)  # closes at T + 60
    assert all(row[c] is None for c in bt.OPE_COLUMNS)
    assert row["ope_closes"] == T + timedelta(days=60)
    none = _measure(tmp_path / "b", end_day=200)  # no `lists`: the block stays empty
    assert all(none[c] is None for c in bt.OPE_COLUMNS)


def test_ope_with_no_earlier_list_is_too_few(tmp_path):
    lists = bt.PolicyLists(
        selections=pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("contact_id", "as_of", "selection",
                                                  "inclusion_probability", "activity_type")}
        ),
        optimise=pd.DataFrame({"contact_id": ["C1"], "activity_type": ["review"]}),
        nps=pd.DataFrame({"contact_id": ["C1"]}), pool_p_advocate=None,
    )  # fmt: skip
    row = bt.ope_measures(bt.logged_asks(None, lists.selections, Settings()), lists)
    assert (row["ope_n_lists"], row["ope_n_logged"]) == (0, 0)
    assert "too few logged asks to tell (n=0" in row["ope_verdict"]


def test_ope_summary_says_plainly_when_no_date_can_tell():
    table = pd.DataFrame(
        {
            "ope_verdict": [None, "too few ...", "too few ..."],
            "ope_n_logged": [None, 4, 12],
            "ope_optimise_snips": [None, None, None],
            "ope_nps_snips": [None, None, None],
        }
    )
    assert bt.ope_summary(table).startswith(
        "Too few logged asks to tell on every measured date (n=12"
    )
    table.loc[2, "ope_nps_snips"] = 0.4
    assert bt.ope_summary(table) == "1 of 2 measured dates have an estimate (n=12 at most)."
    assert "nothing measured yet" in bt.ope_summary(table.iloc[:1])
