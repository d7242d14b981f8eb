"""State-at-t macros: each rule on its edges."""

from __future__ import annotations

import pandas as pd
import pytest

from advocacy.features import build
from advocacy.features.state import as_of_date, register_state
from advocacy.settings import Settings
from tests.feature_worlds import T_TS, T, random_world

TS = "TIMESTAMP '2024-06-03 00:00:00'"
ASKED = f"{TS} - INTERVAL 10 DAY"
US = "INTERVAL 1 MICROSECOND"


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = random_world(42).connect(tmp_path_factory.mktemp("state"))
    register_state(connection)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        (f"ask_status_at('completed', {ASKED}, {TS}, {TS})", "pending"),
        (f"ask_status_at('completed', {ASKED}, {TS} - INTERVAL 1 MICROSECOND, {TS})", "completed"),
        # no time of their own: settled once the 30-day window closed strictly before t
        (f"ask_status_at('declined', {TS} - INTERVAL 30 DAY, NULL, {TS})", "pending"),
        (f"ask_status_at('declined', {TS} - INTERVAL 30 DAY - {US}, NULL, {TS})", "declined"),
        (f"ask_status_at('no_response', {TS} - INTERVAL 30 DAY, NULL, {TS})", "pending"),
        (f"ask_status_at('no_response', {TS} - INTERVAL 31 DAY, NULL, {TS})", "no_response"),
        (f"ask_status_at('cancelled', {TS} - INTERVAL 5 DAY, NULL, {TS})", "pending"),
        (f"ask_status_at('cancelled', {TS} - INTERVAL 31 DAY, NULL, {TS})", "cancelled"),
        (f"ask_status_at('pending', {TS} - INTERVAL 90 DAY, NULL, {TS})", "pending"),
        (f"ask_pending_at({TS} - INTERVAL 1 DAY, 'declined', NULL, {TS})", True),
        # eligibility reads the export's answer at T: declined yesterday is not open
        (f"ask_open_in_files_at({TS} - INTERVAL 1 DAY, 'declined', NULL, {TS})", False),
        (f"ask_open_in_files_at({TS} - INTERVAL 1 DAY, 'cancelled', NULL, {TS})", False),
        (f"ask_open_in_files_at({TS} - INTERVAL 1 DAY, 'completed', {TS}, {TS})", True),
        (f"ask_open_in_files_at({TS} - INTERVAL 90 DAY, 'pending', NULL, {TS})", True),
        (f"ask_open_in_files_at({TS}, 'pending', NULL, {TS})", False),
        (f"ticket_open_at({TS} - INTERVAL 1 DAY, {TS}, {TS})", True),
        (f"ticket_open_at({TS} - INTERVAL 1 DAY, NULL, {TS})", True),
        (f"ticket_open_at({TS}, NULL, {TS})", False),
        (f"csat_at(5, {TS}, {TS})", None),
        (f"csat_at(5, {TS} - INTERVAL 1 SECOND, {TS})", 5),
        (f"opted_out_before(NULL, {TS})", False),
        (f"churned_before(DATE '2024-06-03', {TS})", False),
        (f"churned_before(DATE '2024-06-02', {TS})", True),
        (f"created_before(DATE '2024-06-03', {TS})", False),
        (f"asked_within({TS} - INTERVAL 30 DAY, {TS}, 30)", True),
        (f"asked_within({TS}, {TS}, 30)", False),
        (f"within_days({TS} - INTERVAL 90 DAY, {TS}, 90)", True),
        (f"within_days({TS} - INTERVAL 90 DAY - INTERVAL 1 MICROSECOND, {TS}, 90)", False),
        (f"ask_pending_at({TS} - INTERVAL 1 DAY, 'completed', {TS}, {TS})", True),
        (f"ask_pending_at({TS}, 'pending', NULL, {TS})", False),
        (f"activity_completed_before('completed', {TS}, {TS})", False),
        (f"advocate_label('cancelled', {TS} - INTERVAL 60 DAY, NULL, 30, {TS})", None),
        (f"advocate_label('pending', {TS} - INTERVAL 30 DAY, NULL, 30, {TS})", None),
        (f"advocate_label('pending', {TS} - INTERVAL 31 DAY, NULL, 30, {TS})", 0),
        (f"burnout_event_in({TS}, {TS} - INTERVAL 90 DAY, 90, {TS})", False),
        (f"burnout_event_in({TS} - INTERVAL 1 DAY, {TS} - INTERVAL 90 DAY, 90, {TS})", True),
        ("usage_day_limit(TIMESTAMP '2024-06-02 14:00')", pd.Timestamp("2024-06-02").date()),
    ],
)
def test_scalar_rules(con, expr, want):
    assert con.sql(f"SELECT {expr}").fetchall()[0][0] == want


def test_as_of_must_be_a_date(con):
    """T is a day: a text or a time (even midnight) is a caller's mistake, not converted."""
    assert as_of_date(T) == T
    for wrong in ("2024-06-03", T_TS, pd.Timestamp("2024-06-03 10:00")):
        with pytest.raises(TypeError, match=r"as_of must be a datetime\.date"):
            as_of_date(wrong)
    with pytest.raises(TypeError, match=r"as_of must be a datetime\.date"):
        build.build_scoring(con, "2024-06-03", Settings())
