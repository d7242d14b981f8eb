"""monitoring/lookback.py: a hand-built list whose outcome at `until` is known exactly."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from advocacy.monitoring import lookback
from advocacy.pipelines import outputs
from advocacy.settings import Settings
from tests.feature_worlds import World

LISTED_ON = date(2024, 5, 6)
UNTIL = date(2024, 6, 3)  # 28 days later; response window 30 days


def _world() -> World:
    w = World().account()
    for cid in ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"):
        w.contact(cid)
    w.activity("C1", "2024-05-07", "completed", "2024-05-10")  # yes
    w.activity("C2", "2024-05-08", "declined")  # window open at UNTIL: pending
    w.activity("C3", "2024-05-09", "completed", "2024-06-05")  # completes after UNTIL: pending
    w.activity("C4", "2024-04-01", "completed", "2024-04-03")  # asked before the list: not asked
    # Cancelled: pending while its window is open at UNTIL (a timeless answer), then left out.
    w.activity("C5", "2024-05-10", "cancelled")
    w.activity("C6", "2024-06-03", "completed", "2024-06-04")  # asked at UNTIL: not seen
    w.activity("C7", "2024-05-06", "completed", "2024-05-20")  # asked on the list's day: yes
    w.activity("C7", "2024-05-30", "declined")  # a second ask: only the first counts
    w.activity("C9", "2024-05-07", "completed", "2024-05-08")  # not on the list
    w.contact("C9")
    return w


def _listed() -> pd.DataFrame:
    ids = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"]
    return pd.DataFrame(
        {"contact_id": ids, "p_advocate": [0.5, 0.25, 0.125, 0.9, 0.9, 0.9, 0.75, 0.1]}
    )


def test_list_outcome_counts_asked_yes_pending_expected(tmp_path):
    con = _world().connect(tmp_path / "w")
    got = lookback.list_outcome(con, _listed(), LISTED_ON, UNTIL, Settings())
    assert got == lookback.ListOutcome(
        listed_on=LISTED_ON, until=UNTIL, n_listed=8, asked=5, said_yes=2, pending=3,
        expected_yes=0.5 + 0.25 + 0.125 + 0.9 + 0.75,
    )  # fmt: skip


def test_list_outcome_later_settles_the_pending(tmp_path):
    """Four weeks on: the decline's window closed (a no), C3 completed within its window (a
    yes), C5's cancellation is settled (left out), C6's ask at the old `until` is now seen and
    answered yes."""
    con = _world().connect(tmp_path / "w")
    got = lookback.list_outcome(con, _listed(), LISTED_ON, date(2024, 7, 1), Settings())
    assert (got.asked, got.said_yes, got.pending) == (5, 4, 0)
    assert got.expected_yes == pytest.approx(0.5 + 0.25 + 0.125 + 0.9 + 0.75)


def test_list_outcome_reads_only_rows_before_until(tmp_path):
    """A world cut at UNTIL gives the same outcome as the full files."""
    world = _world()
    full = lookback.list_outcome(
        world.connect(tmp_path / "a"), _listed(), LISTED_ON, UNTIL, Settings()
    )
    cut_world = world.cut(pd.Timestamp(UNTIL), unsettled_days=30)
    cut = lookback.list_outcome(
        cut_world.connect(tmp_path / "b"), _listed(), LISTED_ON, UNTIL, Settings()
    )
    assert cut == full


def test_list_outcome_refuses_until_before_the_list(tmp_path):
    con = _world().connect(tmp_path / "w")
    with pytest.raises(ValueError, match="before the list"):
        lookback.list_outcome(con, _listed(), UNTIL, LISTED_ON, Settings())


def _publish(root, day: date, ids=("C1",), complete: bool = True) -> None:
    folder = root / day.isoformat()
    folder.mkdir(parents=True)
    frame = pd.DataFrame(
        {"rank": range(1, len(ids) + 1), "contact_id": list(ids), "p_advocate": 0.5}
    )
    outputs.write_candidates_csv(frame, folder / "candidates.csv")
    if complete:
        (folder / "run.json").write_text(json.dumps({"as_of": day.isoformat()}))


def test_published_weeks_only_before_t_and_at_most_12_weeks(tmp_path):
    T = date(2024, 6, 3)
    for k in range(0, 15):
        _publish(tmp_path, T - timedelta(days=7 * k))
    _publish(tmp_path, T + timedelta(days=7))  # after T
    _publish(tmp_path, date(2024, 5, 30), complete=False)  # no run.json: half-written
    (tmp_path / "latest").symlink_to(tmp_path / (T - timedelta(days=7)).isoformat())
    (tmp_path / "notes").mkdir()
    weeks = [w.as_of for w in lookback.published_weeks(tmp_path, T)]
    assert weeks == [T - timedelta(days=7 * k) for k in range(12, 0, -1)]
    assert len(lookback.published_weeks(tmp_path, T, weeks=3)) == 3
    assert lookback.published_weeks(tmp_path / "missing", T) == []


def test_earlier_lists_measure_each_week_at_t(tmp_path):
    con = _world().connect(tmp_path / "w")
    root = tmp_path / "out"
    _publish(root, LISTED_ON, ids=("C1", "C2", "C8"))
    _publish(root, UNTIL, ids=("C1",))  # T itself: not an earlier list
    got = lookback.earlier_lists(root, UNTIL, con, Settings())
    assert [(o.listed_on, o.n_listed, o.asked, o.said_yes, o.pending) for o in got] == [
        (LISTED_ON, 3, 2, 1, 1)
    ]
    assert got[0].to_dict()["listed_on"] == LISTED_ON.isoformat()


def test_read_list_undoes_the_spreadsheet_escape(tmp_path):
    _publish(tmp_path, LISTED_ON, ids=("-C1", "C2"))
    assert lookback.read_list(tmp_path / LISTED_ON.isoformat())["contact_id"].tolist() == [
        "-C1",
        "C2",
    ]
    assert lookback.FORMULA_TRIGGERS == outputs.FORMULA_TRIGGERS


# ---------------------------------------------------------------- per contact (issue 13)
def _by_contact(frame: pd.DataFrame) -> dict[str, tuple]:
    return {
        r.contact_id: (bool(r.asked), None if pd.isna(r.said_yes) else bool(r.said_yes))
        for r in frame.itertuples()
    }


def test_listed_outcomes_per_contact_agree_with_the_counts(tmp_path):
    """Same asks as list_outcome; pending asks (C2, C3, C5 at UNTIL) have no decision (NA)."""
    con = _world().connect(tmp_path / "w")
    got = lookback.listed_outcomes(con, _listed()[["contact_id"]], LISTED_ON, UNTIL, Settings())
    assert list(got.columns) == list(lookback.OUTCOME_COLUMNS)
    assert _by_contact(got) == {
        "C1": (True, True), "C2": (True, None), "C3": (True, None), "C4": (False, None),
        "C5": (True, None), "C6": (False, None), "C7": (True, True), "C8": (False, None),
    }  # fmt: skip
    assert got.loc[got["contact_id"] == "C1", "asked_type"].item() == "review"
    total = lookback.list_outcome(con, _listed(), LISTED_ON, UNTIL, Settings())
    assert got["asked"].sum() == total.asked and got["said_yes"].sum() == total.said_yes


def test_listed_outcomes_read_later_settle_asks_of_the_window_only(tmp_path):
    """Asks in [LISTED_ON, UNTIL) read four weeks on: all settled; C6 (asked at UNTIL) is not
    one of them; C5's cancellation is left out."""
    con = _world().connect(tmp_path / "w")
    got = lookback.listed_outcomes(
        con, _listed()[["contact_id"]], LISTED_ON, date(2024, 7, 1), Settings(),
        asked_before=UNTIL,
    )  # fmt: skip
    by = _by_contact(got)
    assert by["C2"] == (True, False) and by["C3"] == (True, True)
    assert by["C5"] == (False, None) and by["C6"] == (False, None)
    with pytest.raises(ValueError, match="asked_before"):
        lookback.listed_outcomes(
            con, _listed(), LISTED_ON, UNTIL, Settings(), asked_before=date(2024, 7, 1)
        )


def test_listed_outcomes_with_a_type_count_only_asks_of_that_type(tmp_path):
    world = _world().activity("C8", "2024-05-08", "completed", "2024-05-09", "case_study")
    con = world.connect(tmp_path / "w")
    listed = pd.DataFrame(
        {"contact_id": ["C1", "C8", "C7"], "activity_type": ["case_study", "case_study", "review"]}
    )
    got = _by_contact(lookback.listed_outcomes(con, listed, LISTED_ON, UNTIL, Settings()))
    assert got == {"C1": (False, None), "C8": (True, True), "C7": (True, True)}


def test_unescape_is_public_and_undoes_the_formula_guard():
    assert lookback.unescape("'=C1") == "=C1"
    assert lookback.unescape("'C1") == "'C1"
