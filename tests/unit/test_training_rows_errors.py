"""Too few training rows: the refusal names the model and the cause (no asks, none closed yet,
as_of past the lookback, as_of before the data, a single label), the row count and the setting.

Facts come from the tiny hand-made world of tests/contract_worlds.py: accounts from
2025-01-01, asks on days 50-59 (8 not cancelled), completions from day 55; AS_OF is day 83.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from advocacy.data_contracts.load import connect
from advocacy.features.facts import (
    TrainingRowsFacts,
    advocate_rows_facts,
    burnout_rows_facts,
)
from advocacy.models.train import (
    TrainingRowsError,
    check_training_rows,
    fit_target,
)
from advocacy.settings import Settings
from tests.contract_worlds import AS_OF, valid_frames, write_folder

SETTINGS = Settings()
ADV = "p_advocate (advocacy-propensity)"
BURN = "p_burnout (advocacy-burnout)"


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = write_folder(valid_frames(), tmp_path_factory.mktemp("tiny") / "data")
    con = connect(folder)
    yield con
    con.close()


def _frame(n: int, label: int | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.full(n, label) if label is not None else rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "contact_id": [f"C{i:04d}" for i in range(n)],
            "t": pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n), unit="h"),
            "x": rng.normal(size=n),
            "label": labels.astype("int64"),
        }
    )


def _refusal(frame, target, facts=None) -> TrainingRowsError:
    with pytest.raises(TrainingRowsError) as info:
        fit_target(frame, target, SETTINGS, features=["x"], categorical=[], facts=facts)
    error = info.value
    assert isinstance(error, ValueError) and "\n" not in str(error)
    assert error.target == target and error.rows == len(frame) and error.min_rows == 200
    return error


ROWS_FACTS = {"advocate": advocate_rows_facts, "burnout": burnout_rows_facts}


def _message(con, as_of: date, target: str = "advocate", frame=None) -> str:
    facts = ROWS_FACTS[target](con, as_of, SETTINGS)
    return str(_refusal(_frame(0) if frame is None else frame, target, facts))


# ---------------------------------------------------------------- p_advocate


def test_no_asks_before_as_of(con):
    assert _message(con, date(2025, 2, 15)) == (
        f"{ADV}: 0 training rows < training.min_rows=200: no asks before as_of 2025-02-15 "
        "(requested_at set, status not cancelled)"
    )


def test_asks_exist_but_no_response_window_has_closed(con):
    assert _message(con, date(2025, 3, 10)) == (
        f"{ADV}: 0 training rows < training.min_rows=200: 8 asks before as_of 2025-03-10, but "
        "none has a closed 30-day response window: all were made on or after 2025-02-08 "
        "(windows.response_window_days)"
    )


def test_as_of_too_far_past_the_data(con):
    late = AS_OF + timedelta(days=800)
    assert _message(con, late) == (
        f"{ADV}: 0 training rows < training.min_rows=200: the newest ask (2025-03-01 09:00:00) "
        "is older than the 730-day lookback: as_of is too far past the data "
        "(windows.advocate_lookback_days)"
    )


def test_as_of_before_the_data_begins(con):
    assert _message(con, date(2024, 12, 1)) == (
        f"{ADV}: 0 training rows < training.min_rows=200: as_of 2024-12-01 is before the data "
        "begins (2025-01-01 00:00:00)"
    )


def test_few_rows_with_one_label(con):
    assert _message(con, AS_OF, frame=_frame(2, label=0)) == (
        f"{ADV}: 2 training rows < training.min_rows=200: only 2 asks have a closed 30-day "
        f"response window in the 730 days before as_of {AS_OF} (windows.advocate_lookback_days)"
        "; all have label 0: every ask was declined, unanswered or completed after 30 days "
        "(none accepted)"
    )


@pytest.mark.parametrize(
    ("label", "cause"),
    [
        (0, "every ask was declined, unanswered or completed after 30 days (none accepted)"),
        (1, "every ask was accepted (none declined): nothing to tell yes from no"),
    ],
)
def test_enough_rows_but_one_label(label, cause):
    error = _refusal(_frame(300, label=label), "advocate")
    assert str(error) == (
        f"{ADV}: all 300 training rows have label {label} (training.min_rows=200 met): {cause}"
    )


def test_without_facts_the_cause_is_still_named():
    assert str(_refusal(_frame(0), "advocate")) == (
        f"{ADV}: 0 training rows < training.min_rows=200: no asks with a closed 30-day response "
        "window in the 730 days before as_of (no asks, all too recent, or as_of too far past "
        "the data; `advocacy validate --as-of` says which)"
    )
    assert "only 50 asks have a closed 30-day response window" in str(
        _refusal(_frame(50), "advocate")
    )


def test_the_real_builder_gives_zero_rows_and_the_refusal_says_why(con):
    from advocacy.features.build import build_advocate_training

    as_of = date(2025, 3, 10)
    frame = build_advocate_training(con, as_of, SETTINGS)
    assert len(frame) == 0
    facts = advocate_rows_facts(con, as_of, SETTINGS)
    with pytest.raises(TrainingRowsError, match="none has a closed 30-day response window"):
        fit_target(frame, "advocate", SETTINGS, facts=facts)


# ---------------------------------------------------------------- p_burnout


def test_burnout_without_any_advocate(con):
    assert _message(con, date(2025, 2, 23), "burnout") == (
        f"{BURN}: 0 training rows < training.min_rows=200: no completed advocacy activity before "
        "as_of 2025-02-23: nobody is an advocate yet"
    )


def test_burnout_horizon_not_closed(con):
    assert _message(con, AS_OF, "burnout") == (
        f"{BURN}: 0 training rows < training.min_rows=200: 4 completed activities before as_of "
        f"{AS_OF}, but none before 2024-12-25 (as_of - windows.burnout_horizon_days): no "
        "90-day horizon has closed"
    )


def test_burnout_before_the_data_begins(con):
    assert "as_of 2024-12-01 is before the data begins" in _message(
        con, date(2024, 12, 1), "burnout"
    )


def test_burnout_one_label():
    error = _refusal(_frame(300, label=0), "burnout")
    assert str(error) == (
        f"{BURN}: all 300 training rows have label 0 (training.min_rows=200 met): no burnout "
        "event: no active advocate opted out or gave NPS <= 6 within 90 days of a snapshot"
    )


def test_enough_rows_with_both_labels_pass_the_check():
    check_training_rows(_frame(300), "advocate", SETTINGS)
    facts = TrainingRowsFacts("advocate", AS_OF, pd.Timestamp("2025-01-01"), 300, 300, 300, None)
    check_training_rows(_frame(300), "advocate", SETTINGS, facts)
