"""The synthetic world: contract shape, rules, time, formats, determinism and its signal.

Rules are checked with plain pandas (not with the project's GX suites), so a bug in the
suites cannot hide a bug in the generator. The signal tests use the shared session world.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from advocacy.data_contracts.load import connect
from advocacy.data_contracts.tables import CONTRACT_TABLES, TABLES, Table
from advocacy.synthetic.config import WorldConfig
from advocacy.synthetic.pools import COMMENT_KINDS, build_comment_pools
from advocacy.synthetic.timeline import Timeline, add_years, week_order
from advocacy.synthetic.world import generate

AS_OF = date(2026, 11, 23)
SMALL = 400
ARROW_KINDS = {
    "string": pa.string(),
    "enum": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
TIME_KINDS = ("date", "timestamp")
NOT_EVENT_TIMES = {("accounts", "renewal_date")}  # a planned date, not "when it happened"


def read(folder: Path, table: str) -> pd.DataFrame:
    """A table with date and timestamp columns as datetime64, for plain comparisons."""
    df = pd.read_parquet(folder / f"{table}.parquet")
    for col in TABLES[table].columns:
        if col.kind in TIME_KINDS:
            df[col.name] = pd.to_datetime(df[col.name])
    return df


def event_time_columns(table: Table) -> list[str]:
    return [
        c.name
        for c in table.columns
        if c.kind in TIME_KINDS and (table.name, c.name) not in NOT_EVENT_TIMES
    ]


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    generate(out, contacts=SMALL, seed=3, as_of=AS_OF, history_days=365)
    return out


@pytest.fixture(scope="module")
def future_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("future")
    generate(out, contacts=SMALL, seed=3, as_of=AS_OF, history_days=365, future_days=60)
    return out


@pytest.fixture(scope="module")
def tables(world_dir) -> dict[str, pd.DataFrame]:
    return {name: read(world_dir, name) for name in TABLES}


# ---------------------------------------------------------------- determinism, formats
def test_same_seed_gives_byte_identical_files(small_world, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    generate(again, contacts=SMALL, seed=3, as_of=AS_OF, history_days=365)
    generate(other, contacts=SMALL, seed=4, as_of=AS_OF, history_days=365)
    for name in TABLES:
        file = f"{name}.parquet"
        assert (small_world / file).read_bytes() == (again / file).read_bytes(), name
    assert (small_world / "usage_events.parquet").read_bytes() != (
        other / "usage_events.parquet"
    ).read_bytes()


def test_every_contract_column_is_written_with_its_type(small_world):
    for name, table in TABLES.items():
        schema = pq.read_schema(small_world / f"{name}.parquet")
        assert tuple(schema.names) == table.column_names, name
        for col in table.columns:
            assert schema.field(col.name).type == ARROW_KINDS[col.kind], (name, col.name)


def test_row_counts_are_returned_and_every_table_has_rows(tmp_path):
    rows = generate(tmp_path, contacts=SMALL, seed=1, as_of=AS_OF, history_days=365)
    assert list(rows) == list(CONTRACT_TABLES)
    for name, n in rows.items():
        assert n == pq.read_metadata(tmp_path / f"{name}.parquet").num_rows > 0, name
    assert rows["contacts"] == SMALL


def test_csv_and_parquet_hold_the_same_data(small_world, tmp_path):
    generate(tmp_path, contacts=SMALL, seed=3, as_of=AS_OF, history_days=365, fmt="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.csv" for t in CONTRACT_TABLES)
    header = (tmp_path / "contacts.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.replace('"', "").split(",") == list(TABLES["contacts"].column_names)
    first_ticket = (tmp_path / "support_tickets.csv").read_text().splitlines()[1]
    assert re.search(r",\"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\"?,", first_ticket), first_ticket
    pq_con, csv_con = connect(small_world), connect(tmp_path)
    for name, table in TABLES.items():
        order = ", ".join(table.column_names)
        a = pq_con.execute(f"SELECT * FROM {name} ORDER BY {order}").df()
        b = csv_con.execute(f"SELECT * FROM {name} ORDER BY {order}").df()
        pd.testing.assert_frame_equal(a, b, obj=name)


def test_csv_replaces_a_stale_parquet_file_of_the_same_table(tmp_path):
    """The loader prefers Parquet, so an old Parquet file would shadow the new CSV."""
    generate(tmp_path, contacts=50, seed=1, as_of=AS_OF, history_days=28)
    generate(tmp_path, contacts=50, seed=1, as_of=AS_OF, history_days=28, fmt="csv")
    assert not list(tmp_path.glob("*.parquet"))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "kwargs",
    [{"contacts": 0}, {"fmt": "xlsx"}, {"future_days": -1}, {"history_days": 3}],
)
def test_bad_arguments_are_refused(tmp_path, kwargs):
    args = {"contacts": 10, "as_of": AS_OF} | kwargs
    with pytest.raises(ValueError):
        generate(tmp_path, **args)


def test_config_mixes_must_name_the_contract_enums():
    with pytest.raises(ValueError, match="persona"):
        WorldConfig(persona_mix={"executive": 0.5, "champion": 0.5})
    with pytest.raises(ValueError, match="activity"):
        WorldConfig(unprompted_mix={"review": 0.5, "blog_post": 0.5})


# ---------------------------------------------------------------- time
def test_no_row_at_or_after_as_of_by_default(small_world):
    t = pd.Timestamp(AS_OF)
    for name, table in TABLES.items():
        df = read(small_world, name)
        for col in event_time_columns(table):
            assert (df[col].dropna() < t).all(), (name, col)
    start = t - pd.Timedelta(days=365)
    assert (read(small_world, "usage_events")["occurred_at"] >= start).all()


def test_future_days_add_later_rows_but_nothing_past_the_end(future_world):
    t, end = pd.Timestamp(AS_OF), pd.Timestamp(AS_OF + timedelta(days=60))
    later = {}
    for name, table in TABLES.items():
        df = read(future_world, name)
        for col in event_time_columns(table):
            assert (df[col].dropna() < end).all(), (name, col)
        later[name] = (df[table.time_column] >= t).sum()
    for name in ("usage_events", "nps_responses", "support_tickets", "advocacy_activities"):
        assert later[name] > 0, name


def test_renewal_date_does_not_reveal_a_churn_after_as_of(tmp_path):
    """renewal_date has no event time, so it must look the same whether or not the
    account churns after as_of: the next renewal within a year of as_of, rarely null."""
    churny = WorldConfig(churn_intercept=1.0)
    generate(tmp_path, contacts=SMALL, seed=2, as_of=AS_OF, future_days=120, config=churny)
    acc = read(tmp_path, "accounts")
    t = pd.Timestamp(AS_OF)
    alive = acc[(acc["created_at"] < t) & ~(acc["churned_at"] < t)]
    later_churn = alive["churned_at"].notna()
    assert later_churn.any()
    for group in (alive[later_churn], alive[~later_churn]):
        dates = group["renewal_date"].dropna()
        assert ((dates >= t) & (dates < t + pd.Timedelta(days=366))).all()
    assert alive.loc[later_churn, "renewal_date"].notna().mean() > 0.9


def test_timeline_covers_history_and_future_in_weeks():
    tl = Timeline.build(AS_OF, history_days=30, future_days=4)
    weeks = [tl.week(i) for i in range(tl.n_weeks)]
    assert weeks[0].start_day == tl.start_day and weeks[-1].end_day == tl.end_day
    assert all(a.end_day == b.start_day for a, b in itertools.pairwise(weeks))
    assert weeks[-1].fraction == pytest.approx(6 / 7)  # 34 days = 4 weeks + 6 days


def test_anniversaries_keep_the_day_of_month():
    days = np.array(
        [(date(2024, 2, 29) - date(1970, 1, 1)).days, (date(2023, 1, 31) - date(1970, 1, 1)).days]
    )
    out = add_years(days, np.array([1, 2]))
    assert [date(1970, 1, 1) + timedelta(days=int(d)) for d in out] == [
        date(2025, 2, 28),
        date(2025, 1, 31),
    ]


def test_week_order_sorts_times_stably():
    tl = Timeline.build(AS_OF, history_days=7, future_days=0)
    wk = tl.week(0)
    sec = np.random.default_rng(0).integers(wk.start_sec, wk.end_sec, 5000)
    assert (np.diff(sec[week_order(sec, wk)]) >= 0).all()


# ---------------------------------------------------------------- contract rules (pandas)
def test_generic_column_rules_of_the_contract_hold(tables):
    for name, table in TABLES.items():
        df = tables[name]
        for col in table.columns:
            values = df[col.name].dropna()
            where = (name, col.name)
            if not col.nullable:
                assert len(values) == len(df), where
            if col.unique:
                assert values.is_unique, where
            if col.values:
                assert set(values) <= set(col.values), where
            if col.min_value is not None:
                assert (values >= col.min_value).all(), where
            if col.max_value is not None:
                assert (values <= col.max_value).all(), where
            if col.references:
                ref_table, ref_col = col.references.split(".")
                assert values.isin(tables[ref_table][ref_col]).all(), where
        for later, earlier in table.column_pairs:
            both = df[[later, earlier]].dropna()
            assert (both[later] >= both[earlier]).all(), (name, later, earlier)


def test_ids_emails_and_text_look_real(tables):
    acc, con = tables["accounts"], tables["contacts"]
    assert acc["account_id"].str.fullmatch(r"A\d{6}").all()
    assert con["contact_id"].str.fullmatch(r"C\d{7}").all()
    assert con["email"].str.fullmatch(r"[a-z0-9._]+@[a-z0-9]+(\.[a-z]{2,3})+").all()
    assert con["full_name"].dropna().str.fullmatch(r"\S.* \S.*").all()
    assert acc["name"].nunique() > 0.8 * len(acc)
    assert 0 < con["full_name"].isna().mean() < 0.1 and 0 < con["title"].isna().mean() < 0.15
    assert {"software", "healthcare"} <= set(acc["industry"])


def test_comments_match_the_sentiment_of_the_score(tables):
    nps = tables["nps_responses"].dropna(subset=["comment"])
    pool, offsets, _sizes = build_comment_pools()
    kind_of = {
        text: COMMENT_KINDS[np.searchsorted(offsets, i, side="right") - 1]
        for i, text in enumerate(pool)
    }
    kinds = nps["comment"].map(kind_of)
    assert kinds.notna().all()
    assert not (kinds[nps["score"] >= 9] != "promoter").any()
    assert not (kinds[nps["score"] <= 6] == "promoter").any()
    assert 0.2 < len(nps) / len(tables["nps_responses"]) < 0.8


def test_advocacy_rows_are_consistent(tables):
    acts, con = tables["advocacy_activities"], tables["contacts"]
    completed = acts["status"] == "completed"
    assert (completed == acts["completed_at"].notna()).all()
    unprompted = acts[acts["requested_at"].isna()]
    assert len(unprompted) > 0 and (unprompted["status"] == "completed").all()
    asks = acts.dropna(subset=["requested_at"]).merge(con, on="contact_id")
    assert not asks["do_not_contact"].any()
    opted = asks.dropna(subset=["advocacy_opt_out_at"])
    assert (opted["requested_at"] < opted["advocacy_opt_out_at"]).all()
    assert (asks["requested_at"] >= asks["created_at"]).all()
    assert set(acts["status"]) == {"completed", "declined", "no_response", "pending", "cancelled"}


def test_nothing_happens_before_a_contact_or_account_exists(tables):
    con = tables["contacts"].merge(
        tables["accounts"][["account_id", "created_at", "churned_at"]],
        on="account_id",
        suffixes=("", "_account"),
    )
    assert (con["created_at"] >= con["created_at_account"]).all()
    usage = tables["usage_events"].merge(con, on="contact_id")
    assert (usage["occurred_at"] >= usage["created_at"]).all()
    churned = usage.dropna(subset=["churned_at"])
    assert (churned["occurred_at"] < churned["churned_at"] + pd.Timedelta(days=1)).all()


def test_usage_is_about_a_hundred_events_per_contact_and_heavy_tailed(tables):
    per_contact = tables["usage_events"].groupby("contact_id").size().sort_values()
    assert 50 < per_contact.sum() / len(tables["contacts"]) < 200
    top_decile = per_contact.iloc[-len(per_contact) // 10 :].sum()
    assert top_decile > 0.35 * per_contact.sum()
    share = tables["usage_events"]["event"].value_counts(normalize=True)
    assert share["login"] > 10 * share["integration_added"]


# ---------------------------------------------------------------- signal
def _ask_labels(tables, as_of: date) -> pd.DataFrame:
    """Past asks with their 30-day label and the latest NPS strictly before the ask."""
    acts = tables["advocacy_activities"]
    t = pd.Timestamp(as_of)
    asks = acts[
        acts["requested_at"].notna()
        & (acts["status"] != "cancelled")
        & (acts["requested_at"] + pd.Timedelta(days=30) < t)
    ].copy()
    done = asks["completed_at"] <= asks["requested_at"] + pd.Timedelta(days=30)
    asks["label"] = (asks["status"].eq("completed") & done).astype(int)
    nps = tables["nps_responses"].sort_values("responded_at")
    asks = pd.merge_asof(
        asks.sort_values("requested_at"),
        nps[["contact_id", "responded_at", "score"]],
        left_on="requested_at",
        right_on="responded_at",
        by="contact_id",
        allow_exact_matches=False,
    )
    return asks


def test_promoters_accept_asks_more_often_than_detractors(tables, as_of):
    asks = _ask_labels(tables, as_of)
    promoters = asks.loc[asks["score"] >= 9, "label"]
    detractors = asks.loc[asks["score"] <= 6, "label"]
    assert len(promoters) >= 100 and len(detractors) >= 25
    assert promoters.mean() > detractors.mean() + 0.1


def test_the_company_asks_promoters_more_than_detractors(tables, as_of):
    """The ask policy is biased (as real ones are): the models must live with it."""
    asks = _ask_labels(tables, as_of)
    nps = tables["nps_responses"]
    ask_share = (asks["score"] >= 9).sum() / max((asks["score"] <= 6).sum(), 1)
    answer_share = (nps["score"] >= 9).sum() / (nps["score"] <= 6).sum()
    assert ask_share > 2 * answer_share


def test_many_recent_asks_lead_to_more_opt_outs(tables, as_of):
    """Snapshots every 28 days: asked contacts not yet opted out; asks in the 90 days before
    vs an opt-out in the 90 days after."""
    asks = tables["advocacy_activities"].dropna(subset=["requested_at"])
    con = tables["contacts"].set_index("contact_id")
    rows = []
    for s in pd.date_range(end=pd.Timestamp(as_of) - pd.Timedelta(days=90), periods=20, freq="28D"):
        before = asks[asks["requested_at"] < s]
        recent = before[before["requested_at"] >= s - pd.Timedelta(days=90)]
        snap = pd.DataFrame(index=before["contact_id"].unique())
        snap["asks_90d"] = recent.groupby("contact_id").size().reindex(snap.index).fillna(0)
        opt = con["advocacy_opt_out_at"].reindex(snap.index)
        snap = snap[~(opt < s)]
        opt = opt.reindex(snap.index)
        snap["opt_out"] = ((opt >= s) & (opt < s + pd.Timedelta(days=90))).astype(int)
        rows.append(snap)
    snaps = pd.concat(rows)
    many = snaps.loc[snaps["asks_90d"] >= 2, "opt_out"]
    none = snaps.loc[snaps["asks_90d"] == 0, "opt_out"]
    assert len(many) >= 100 and len(none) >= 1000
    assert many.mean() > 2 * none.mean()
