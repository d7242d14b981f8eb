"""The test worlds of tests/feature_worlds.py: they load, cut and repeat as the tests assume."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from tests.feature_worlds import T_TS, one_contact_world, random_world


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_world_round_trips_through_the_loader(tmp_path, fmt):
    world = one_contact_world().nps("C1", "2024-05-01 10:00", 9, "great").usage("C1", "2024-05-02")
    world.ticket("A1", "2024-05-03", "2024-05-04", csat=4).activity("C1", "2024-05-01", "declined")
    con = world.connect(tmp_path, fmt)
    assert con.sql("SELECT score FROM nps_responses").fetchall() == [(9,)]
    assert con.sql("SELECT occurred_at FROM usage_events").fetchall() == [(datetime(2024, 5, 2),)]
    assert con.sql("SELECT csat, closed_at FROM support_tickets").fetchall() == [
        (4, datetime(2024, 5, 4))
    ]
    assert con.sql("SELECT requested_at, completed_at FROM advocacy_activities").fetchall() == [
        (datetime(2024, 5, 1), None)
    ]
    assert con.sql("SELECT do_not_contact, created_at FROM contacts").fetchall() == [
        (False, date(2020, 1, 1))
    ]


def test_cut_drops_later_rows_and_undoes_later_changes():
    world = one_contact_world(advocacy_opt_out_at="2024-06-03 00:00:00")
    world.activity("C1", "2024-05-01", "completed", "2024-06-03")
    world.ticket("A1", "2024-05-01", "2024-06-03", csat=5).usage("C1", "2024-06-03")
    cut = world.cut(T_TS)
    assert cut.rows["contacts"][0]["advocacy_opt_out_at"] is None
    assert cut.rows["advocacy_activities"][0]["status"] == "pending"
    assert cut.rows["support_tickets"][0]["csat"] is None
    assert cut.rows["usage_events"] == []


def test_random_world_is_reproducible_and_straddles_t():
    a, b = random_world(3), random_world(3)
    assert a.rows == b.rows
    times = pd.to_datetime(a.frame("usage_events")["occurred_at"])
    assert (times < T_TS).any() and (times >= T_TS).any()
