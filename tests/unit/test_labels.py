"""Label rules (docs/models.md "Targets"), one hand-built case per rule and per edge."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pandas as pd
import pytest

from advocacy.features import labels
from advocacy.settings import Settings, WindowSettings
from tests.feature_worlds import T_TS, T, World

SETTINGS = Settings()
S0 = T_TS - timedelta(days=90)  # newest burnout snapshot
S1 = S0 - timedelta(days=28)
US = timedelta(microseconds=1)


def _advocate_world() -> World:
    r = pd.Timestamp("2024-04-01 10:00")
    w = World().account()
    cases = {
        "yes": (r, "completed", r + timedelta(days=19)),
        "yes_at_edge": (r, "completed", r + timedelta(days=30)),
        "late": (r, "completed", r + timedelta(days=30) + US),
        "after_t": (r, "completed", pd.Timestamp("2024-06-10")),
        "declined": (r, "declined", None),
        "silent": (r, "no_response", None),
        "pending": (r, "pending", None),
        "cancelled": (r, "cancelled", None),
        "window_ends_at_t": (T_TS - timedelta(days=30), "completed", T_TS - timedelta(days=2)),
        "window_ends_before_t": (T_TS - timedelta(days=30) - US, "completed", T_TS - US),
        "oldest_kept": (T_TS - timedelta(days=730), "declined", None),
        "too_old": (T_TS - timedelta(days=730) - US, "declined", None),
        "asked_after_t": (T_TS + timedelta(days=1), "declined", None),
    }
    for i, (name, (asked, status, done)) in enumerate(cases.items()):
        w.contact(f"C{i}").activity(f"C{i}", asked, status, done, activity_id=name)
    w.contact("C99").activity("C99", None, "completed", r, activity_id="unprompted")
    return w


@pytest.fixture
def advocate_rows(tmp_path) -> pd.DataFrame:
    con = _advocate_world().connect(tmp_path)
    return labels.advocate_label_rows(con, T, SETTINGS).set_index("activity_id")


def test_advocate_label_values(advocate_rows):
    got = advocate_rows["label"].to_dict()
    assert got == {
        "yes": 1,
        "yes_at_edge": 1,  # completed exactly at r + 30 days: within the window
        "late": 0,
        "after_t": 0,
        "declined": 0,
        "silent": 0,
        "pending": 0,  # still pending when the window closed
        "window_ends_before_t": 1,
        "oldest_kept": 0,
    }


def test_advocate_rows_left_out(advocate_rows):
    for name in ("cancelled", "window_ends_at_t", "too_old", "asked_after_t", "unprompted"):
        assert name not in advocate_rows.index, name


def test_advocate_rows_shape(advocate_rows):
    frame = advocate_rows.reset_index()
    assert tuple(frame.columns) == (
        "activity_id",
        "contact_id",
        "account_id",
        "activity_type",
        "t",
        "label",
    )
    assert frame["t"].dtype.kind == "M" and frame["label"].dtype.kind == "i"
    yes = frame.set_index("activity_id").loc["yes"]
    assert yes["t"] == pd.Timestamp("2024-04-01 10:00") and yes["account_id"] == "A1"


def test_snapshot_grid_is_anchored_on_t():
    grid = labels.snapshot_grid(T, SETTINGS)
    assert grid[0] == date(2024, 3, 5) == (T - timedelta(days=90))
    assert all(a - b == timedelta(days=28) for a, b in itertools.pairwise(grid))
    assert grid[-1] >= T - timedelta(days=730) > grid[-1] - timedelta(days=28)
    assert len(grid) == 23


def _advocate(w: World, cid: str, **contact) -> World:
    """An active advocate since 2022 (unprompted act), on account A1 unless told."""
    w.contact(cid, **contact).activity(cid, None, "completed", "2022-01-03")
    return w


def _burnout_world() -> World:
    w = World().account().account("A_churn_at_s0", churned_at=S0.date().isoformat())
    w.account("A_churned", churned_at="2024-03-01")
    _advocate(w, "opt_out_at_s0", advocacy_opt_out_at=S0)
    _advocate(w, "opt_out_at_t", advocacy_opt_out_at=T_TS)
    _advocate(w, "opt_out_at_s1_end", advocacy_opt_out_at=S1 + timedelta(days=90))
    _advocate(w, "opted_out_early", advocacy_opt_out_at=pd.Timestamp("2024-01-01"))
    _advocate(w, "detractor").nps("detractor", "2024-04-01", 6)
    _advocate(w, "passive").nps("passive", "2024-04-01", 7)
    _advocate(w, "detractor_at_s0").nps("detractor_at_s0", S0, 2)
    _advocate(w, "detractor_at_t").nps("detractor_at_t", T_TS, 0)
    _advocate(w, "churn_at_s0", account_id="A_churn_at_s0")
    _advocate(w, "churned", account_id="A_churned")
    _advocate(w, "created_at_s0", created_at=S0.date().isoformat())
    w.contact("first_act_at_s0").activity("first_act_at_s0", None, "completed", S0)
    w.contact("only_pending").activity("only_pending", "2022-01-03", "pending")
    return w


@pytest.fixture
def burnout_rows(tmp_path) -> pd.DataFrame:
    con = _burnout_world().connect(tmp_path)
    return labels.burnout_label_rows(con, T, SETTINGS)


def _labels_at(rows: pd.DataFrame, s: pd.Timestamp) -> dict[str, int]:
    return rows[rows["t"] == s].set_index("contact_id")["label"].to_dict()


def test_burnout_labels_at_the_newest_snapshot(burnout_rows):
    assert _labels_at(burnout_rows, S0) == {
        "opt_out_at_s0": 0,  # not before s (still active), not in (s, s + 90 days]
        "opt_out_at_t": 0,  # the window ends exactly at T, and T is not seen
        "opt_out_at_s1_end": 1,
        "detractor": 1,
        "passive": 0,
        "detractor_at_s0": 0,  # exactly at s: not in (s, s + 90 days]
        "detractor_at_t": 0,
        "churn_at_s0": 0,  # churned on the day of s: not before s, still active
    }


def test_burnout_active_advocates_only(burnout_rows):
    at_s0 = set(burnout_rows.loc[burnout_rows["t"] == S0, "contact_id"])
    not_active = ("opted_out_early", "churned", "first_act_at_s0", "only_pending", "created_at_s0")
    for name in not_active:
        assert name not in at_s0, name


def test_burnout_labels_at_earlier_snapshots(burnout_rows):
    at_s1 = _labels_at(burnout_rows, S1)
    assert at_s1["opt_out_at_s0"] == 1 and at_s1["opt_out_at_s1_end"] == 1
    assert at_s1["detractor_at_s0"] == 1 and at_s1["opt_out_at_t"] == 0
    s3 = S0 - timedelta(days=3 * 28)
    assert _labels_at(burnout_rows, s3)["opted_out_early"] == 1
    assert set(burnout_rows["t"]) <= {pd.Timestamp(s) for s in labels.snapshot_grid(T, SETTINGS)}
    assert burnout_rows["label"].dtype.kind == "i"


def test_unprompted_acts_are_completed_before_t(tmp_path):
    w = World().account().contact()
    w.activity("C1", None, "completed", "2024-05-01", "review", activity_id="before")
    w.activity("C1", None, "completed", T_TS, "review", activity_id="at_t")
    w.activity("C1", "2024-05-01", "completed", "2024-05-02", activity_id="asked")
    acts = labels.unprompted_acts(w.connect(tmp_path), T)
    assert acts["activity_id"].tolist() == ["before"]
    assert list(acts.columns) == ["contact_id", "activity_id", "activity_type", "completed_at"]


def test_no_snapshot_fits_gives_no_burnout_rows(tmp_path):
    settings = Settings(windows=WindowSettings(burnout_lookback_days=60))
    assert labels.snapshot_grid(T, settings) == []
    rows = labels.burnout_label_rows(_burnout_world().connect(tmp_path), T, settings)
    assert rows.empty and list(rows.columns) == list(labels.BURNOUT_COLUMNS)
