"""Advocates for a deal: a hand-built world with a known best advocate (policy/matching.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from advocacy.data_contracts import suites
from advocacy.data_contracts.load import connect
from advocacy.data_contracts.tables import OPPORTUNITIES
from advocacy.features.facts import eligibility_facts
from advocacy.pipelines import match
from advocacy.policy.eligibility import ineligible_reason
from advocacy.policy.matching import (
    ADVOCATE_COLUMNS,
    MATCH_COLUMNS,
    advocate_facts,
    best_advocates,
    parse_products,
    with_scores,
)
from advocacy.settings import MatchingSettings, Settings
from tests.feature_worlds import T_TS, T, World

OPP_COLUMNS = (
    "opportunity_id", "prospect_name", "industry", "segment", "region", "products", "stage",
    "amount", "created_at", "reference_needed_by", "reference_type", "closed_at",
)  # fmt: skip


def world() -> World:
    """C1 fits the healthcare/enterprise/emea dashboards deal best; C2 (same account) was asked
    10 days ago (cooldown); C4 is do-not-contact; C3 is a weaker fit whose dashboards use
    starts only at T (unseen)."""
    w = World()
    w.account("A1", industry="healthcare", segment="enterprise", region="emea")
    w.account("A2", industry="software", segment="smb", region="na")
    w.account("A3", industry="healthcare", segment="enterprise", region="emea")
    for cid, acc in (("C1", "A1"), ("C2", "A1"), ("C3", "A2"), ("C5", "A2")):
        w.contact(cid, acc)
    w.contact("C4", "A3", do_not_contact=True)
    for day in range(1, 26):
        w.usage("C1", T_TS - pd.Timedelta(days=day), "dashboard_viewed")
        w.usage("C4", T_TS - pd.Timedelta(days=day), "dashboard_viewed")
    w.usage("C2", T_TS - pd.Timedelta(days=3), "dashboard_viewed")
    w.usage("C3", T_TS - pd.Timedelta(days=5), "export")
    w.usage("C3", T_TS, "dashboard_viewed", n=3)  # at T: not seen
    w.usage("C5", T_TS - pd.Timedelta(days=200), "dashboard_viewed")  # outside the 90 days
    w.nps("C1", T_TS - pd.Timedelta(days=12), 10)
    w.nps("C3", T_TS - pd.Timedelta(days=40), 9)
    w.nps("C3", T_TS + pd.Timedelta(days=1), 0)  # after T: not seen
    w.activity("C2", T_TS - pd.Timedelta(days=10), "declined", activity_type="reference_call")
    return w


def opportunities() -> pd.DataFrame:
    rows = [
        ("O1", "Acme Health", "healthcare", "enterprise", "emea", "dashboard_viewed;export"),
        ("O2", "Beta Clinic", "healthcare", "enterprise", "emea", "dashboard_viewed"),
        ("O3", "Gamma Soft", "software", "smb", "na", "export"),
    ]
    frame = pd.DataFrame(rows, columns=OPP_COLUMNS[:6])
    frame["stage"], frame["amount"] = "evaluation", 50_000.0
    frame["created_at"] = pd.Timestamp(T_TS) - pd.Timedelta(days=20)
    frame["reference_needed_by"], frame["reference_type"] = None, "reference_call"
    frame["closed_at"] = pd.NaT
    first = frame.iloc[0].to_dict()
    closed = {**first, "opportunity_id": "O9", "closed_at": T_TS - pd.Timedelta(days=1)}
    later = {**first, "opportunity_id": "O8", "created_at": pd.Timestamp(T_TS)}
    return pd.concat([frame, pd.DataFrame([closed, later])], ignore_index=True)[list(OPP_COLUMNS)]


def publish(tmp: Path, burnout: dict[str, float] | None = None) -> tuple[Path, Path]:
    """(data folder, run folder with advocates.parquet) built the way the job will."""
    data = world().write(tmp / "data", fmt="parquet")
    opportunities().to_csv(data / "opportunities.csv", index=False)
    con = connect(data)
    settings = Settings()
    facts = eligibility_facts(con, T, settings)
    eligible = facts.loc[ineligible_reason(facts, settings).isna(), "contact_id"]
    ids = ["C1", "C2", "C3", "C4", "C5"]
    p_burnout = [(burnout or {}).get(c, 0.1) for c in ids]
    scores = pd.DataFrame({"contact_id": ids, "p_advocate": 0.5, "p_burnout": p_burnout})
    frame = with_scores(advocate_facts(con, T, eligible), scores)
    con.close()
    run = tmp / "run"
    run.mkdir()
    match.write_advocates_parquet(frame, run / match.ADVOCATES_FILE)
    return data, run


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, Path]:
    return publish(tmp_path_factory.mktemp("match"))


def test_advocates_are_the_eligible_only_with_point_in_time_facts(published):
    frame = pd.read_parquet(published[1] / match.ADVOCATES_FILE)
    assert tuple(frame.columns) == ADVOCATE_COLUMNS
    assert list(frame["contact_id"]) == ["C1", "C3", "C5"]  # C2 cooldown, C4 do-not-contact
    by = frame.set_index("contact_id")
    assert list(by.at["C1", "features_used"]) == ["dashboard_viewed"]
    assert by.at["C1", "days_active_30d"] == 25 and by.at["C1", "latest_nps"] == 10
    assert by.at["C1", "latest_nps_days_ago"] == pytest.approx(12)
    assert list(by.at["C3", "features_used"]) == ["export"]  # the use at T is unseen
    assert by.at["C3", "latest_nps"] == 9  # the 0 given after T is unseen
    assert list(by.at["C5", "features_used"]) == [] and pd.isna(by.at["C5", "latest_nps"])


def test_known_best_advocate_first_with_reasons(published):
    data, run = published
    loaded = match.load_advocates(run)
    opp = match.read_opportunity(data, "O1")
    rows = match.answer(loaded, opp, MatchingSettings(), top=5)
    assert tuple(rows.columns) == MATCH_COLUMNS
    assert rows["contact_id"].iloc[0] == "C1"
    assert list(rows["rank"]) == list(range(1, len(rows) + 1))
    assert rows["match_score"].is_monotonic_decreasing
    best = rows.iloc[0]
    assert best["fit"] == pytest.approx(0.75 + 0.25 * 0.5)  # all three same, Jaccard 1/2
    assert best["match_score"] == pytest.approx(best["fit"] * 0.5 * 0.9, abs=1e-4)
    assert best["reasons"] == (
        "same industry (healthcare), segment (enterprise) and region (emea); "
        "uses dashboard_viewed daily; gave NPS 10 12 days ago"
    )
    assert "C2" not in set(rows["contact_id"]) and "C4" not in set(rows["contact_id"])


def test_burnout_risk_and_weights_move_the_order(tmp_path):
    data, run = publish(tmp_path, burnout={"C1": 0.99})
    loaded = match.load_advocates(run)
    opp = match.read_opportunity(data, "O1")
    assert match.answer(loaded, opp, MatchingSettings(), 1)["contact_id"].item() == "C3"
    only_products = MatchingSettings(weight_industry=0, weight_segment=0, weight_region=0)
    rows = match.answer(loaded, match.read_opportunity(data, "O3"), only_products, 5)
    assert list(rows["contact_id"]) == ["C3"]  # nobody else uses export; zero scores left out


def test_unknown_opportunity_and_open_at_t(published):
    data, _ = published
    assert match.read_opportunity(data, "NOPE") is None
    assert list(match.open_opportunities(data, T)["opportunity_id"]) == ["O1", "O2", "O3"]


def test_assignment_honours_the_per_advocate_cap(published):
    data, run = published
    loaded, opps = match.load_advocates(run), match.open_opportunities(data, T)
    one = match.assign_open(loaded, opps, MatchingSettings(per_advocate_cap=1))
    assert one["contact_id"].value_counts().max() == 1
    # C1 fits O1 and O2 but serves one (O2, the better fit); O1's only other candidate, C3,
    # is worth more on O3 than C3 on O1 plus the weaker C5 on O3: the exact optimum.
    assert dict(zip(one["opportunity_id"], one["contact_id"], strict=True)) == {
        "O2": "C1",
        "O3": "C3",
    }
    two = match.assign_open(
        loaded, opps, MatchingSettings(per_advocate_cap=2, references_per_opportunity=2)
    )
    assert two["contact_id"].value_counts().max() == 2
    assert two.groupby("opportunity_id").size().max() == 2
    assert two["match_score"].sum() > one["match_score"].sum()


def test_products_parse_from_text_or_list():
    assert parse_products("b; a,|a") == ["a", "b"]
    assert parse_products(["x", " y "]) == ["x", "y"] and parse_products(None) == []


def test_empty_features_column_scores_zero_overlap():
    table = pa.table(
        {
            "contact_id": ["X"], "account_id": ["A"], "account_name": ["Shop"],
            "industry": ["retail"], "segment": ["smb"], "region": ["na"],
            "features_used": pa.array([[]], pa.list_(pa.string())), "p_advocate": [0.4],
            "p_burnout": [0.0],
        }
    )  # fmt: skip
    opp = {"opportunity_id": "O", "industry": "retail", "products": "export"}
    rows = best_advocates(table, opp, MatchingSettings(), 3)
    assert rows["fit"].item() == pytest.approx(0.35) and rows["p_yes"].item() == 0.4


def test_answer_reads_only_its_row_groups_and_agrees_with_the_table(published, tmp_path):
    data, run = published
    table = pq.read_table(run / match.ADVOCATES_FILE)
    (tmp_path / "small").mkdir()
    pq.write_table(table, tmp_path / "small" / match.ADVOCATES_FILE, row_group_size=1)
    loaded = match.load_advocates(tmp_path / "small")
    assert len(loaded.group_starts) == table.num_rows + 1 and loaded.as_of == T
    for oid in ("O1", "O2", "O3"):
        opp = match.read_opportunity(data, oid)
        expected = best_advocates(table, opp, MatchingSettings(), 5)
        pd.testing.assert_frame_equal(match.answer(loaded, opp, MatchingSettings(), 5), expected)
    assert list(loaded.rows(np.array([2, 0]))["contact_id"]) == ["C5", "C1"]


def test_job_helpers_write_advocates_and_matches(published, tmp_path):
    data, _ = published
    ranked = pd.DataFrame(
        {
            "contact_id": ["C1", "C2", "C3", "C5"],
            "eligible": [True, False, True, True],
            "p_advocate": 0.5,
            "p_burnout": 0.1,
        }
    )
    inputs = match.match_inputs(data, T, ranked, Settings())
    assert list(inputs.advocates["contact_id"]) == ["C1", "C3", "C5"]
    assert list(inputs.open_opportunities["opportunity_id"]) == ["O1", "O2", "O3"]
    (tmp_path / "run").mkdir()
    rows = match.write_match_files(tmp_path / "run", inputs, Settings())
    assert set(rows["contact_id"]) == {"C1", "C3"}
    written = pd.read_csv(tmp_path / "run" / match.MATCHES_FILE, encoding="utf-8-sig")
    assert list(written.columns) == list(MATCH_COLUMNS) and set(written["contact_id"]) == {
        "C1",
        "C3",
    }
    none = match.MatchInputs(inputs.advocates.iloc[0:0], None)
    (tmp_path / "empty").mkdir()
    assert match.write_match_files(tmp_path / "empty", none, Settings()).empty
    assert match.load_advocates(tmp_path / "empty").num_rows == 0
    header = pd.read_csv(tmp_path / "empty" / match.MATCHES_FILE, encoding="utf-8-sig")
    assert list(header.columns) == list(MATCH_COLUMNS) and header.empty  # no deals: header only


def test_opportunities_contract_is_optional_with_a_committed_suite(published, tmp_path):
    assert (suites.SUITES_DIR / "opportunities.json").read_text() == suites.suite_json(
        OPPORTUNITIES
    )
    data, _ = published
    con = connect(data)  # with the file: a typed view
    assert con.execute("SELECT count(*) FROM opportunities").fetchone()[0] == 5
    con.close()
    bare = world().write(tmp_path / "bare", fmt="parquet")  # without it: no view, no error
    con = connect(bare)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    con.close()
    assert "opportunities" not in views and "contacts" in views


def test_open_assignment_from_few_candidates_equals_the_full_optimum(tmp_path):
    """60 deals wanting the same kind of advocate: their 10 best overlap, so the first round
    is short and the LP prices ask for more; the answer equals the solve over every edge."""
    from advocacy.policy import solver
    from advocacy.policy.matching import rank

    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame(
        {
            "contact_id": [f"C{i:05d}" for i in range(n)],
            "account_id": [f"A{i:04d}" for i in range(n)],
            "account_name": "Acme", "industry": rng.choice(["software", "retail"], n),
            "segment": "smb", "region": rng.choice(["emea", "na"], n), "employees": 50,
            "features_used": [["dashboard_viewed"] if rng.random() < 0.5 else [] for _ in range(n)],
            "days_active_30d": 5, "latest_nps": 9.0, "latest_nps_days_ago": 10.0,
            "p_advocate": rng.uniform(0.1, 0.9, n), "p_burnout": rng.uniform(0, 0.3, n),
            "p_reference_call": rng.uniform(0.1, 0.9, n), "last_asked_days_ago": 100.0,
            "as_of": pd.Timestamp(T),
        }
    )  # fmt: skip
    (tmp_path / "run").mkdir()
    match.write_advocates_parquet(frame, tmp_path / "run" / match.ADVOCATES_FILE)
    loaded = match.load_advocates(tmp_path / "run")
    deals = pd.DataFrame(
        {
            "opportunity_id": [f"O{i:03d}" for i in range(60)],
            "industry": rng.choice(["software", "retail"], 60), "segment": "smb",
            "region": rng.choice(["emea", "na"], 60), "products": "dashboard_viewed",
            "reference_type": "reference_call",
        }
    )  # fmt: skip
    settings = MatchingSettings()
    got = match.assign_open(loaded, deals, settings)
    full = {
        o["opportunity_id"]: rank(loaded.scoring, o, settings, n) for o in deals.to_dict("records")
    }
    edges = match._edges(full, {k: n for k in full})
    best = solver.assign(edges, slot_caps={k: 1 for k in full}, person_cap=1)
    assert len(got) == len(best) == 60 and got["contact_id"].is_unique
    assert got["match_score"].sum() == pytest.approx(best["value"].sum(), abs=60 * 1e-4)


def test_slot_prices_certify_left_out_edges():
    from advocacy.policy import solver

    edges = pd.DataFrame(
        {"slot": ["a", "a", "b"], "person": [1, 2, 1], "group": [1, 2, 1], "value": [5.0, 4.0, 3.0]}
    )
    prices = solver.slot_prices(edges, slot_caps={"a": 1, "b": 1}, person_cap=1)
    # a takes person 2 (4.0) and b person 1 (3.0) beats a-1 alone (5.0): price(a) >= 4 - 0.
    assert prices["a"] >= 4.0 - 1e-9 and prices["b"] >= 0


def test_weekly_matches_cover_the_soonest_needed_deals_first():
    deals = pd.DataFrame(
        {
            "opportunity_id": ["O1", "O2", "O3", "O4"],
            "reference_needed_by": [None, "2026-12-01", "2026-11-30", None],
            "amount": [10.0, 1.0, 1.0, 99.0],
        }
    )
    assert match.most_urgent(deals, 3)["opportunity_id"].tolist() == ["O3", "O2", "O4"]
    assert match.most_urgent(deals, 9) is deals


def _random_advocates(rng: np.random.Generator, n: int, vocab: int, repeats: bool) -> pa.Table:
    names = [f"f{i:02d}" for i in range(vocab)]
    lists = []
    for _ in range(n):
        k = int(rng.integers(0, 6))
        picked = list(rng.choice(names, size=k, replace=repeats))
        lists.append(picked if rng.random() > 0.05 else None)
    industries = rng.choice(["retail", "Retail", "health", None], size=n)
    return pa.table(
        {
            "industry": pa.array(list(industries), pa.string()),
            "segment": pa.array(list(rng.choice(["smb", "ent"], size=n)), pa.string()),
            "region": pa.array(list(rng.choice(["na", "emea", None], size=n)), pa.string()),
            "features_used": pa.array(lists, pa.list_(pa.string())),
            "p_advocate": rng.random(n),
            "p_burnout": rng.random(n),
        }
    )


@pytest.mark.parametrize(
    ("vocab", "repeats", "masked"), [(12, False, True), (70, False, False), (12, True, False)]
)
def test_feature_bits_give_the_same_fit_as_counting_hits(vocab, repeats, masked):
    """The uint64 path (<= 64 features, distinct lists) equals counting hits per row; other
    tables keep the counting path."""
    import dataclasses

    from advocacy.policy.matching import ScoringIndex, fit_parts

    rng = np.random.default_rng(vocab + repeats)
    index = ScoringIndex.from_table(_random_advocates(rng, 2_000, vocab, repeats))
    assert (index.feature_masks is not None) is masked
    counting = dataclasses.replace(index, feature_masks=None)
    for products in ("f01;f03;f07", "f05", "zzz;f02", "", "f11;f10;f09;f08;f00;f60"):
        opp = {"industry": "retail", "segment": "smb", "region": None, "products": products}
        got, want = fit_parts(index, opp), fit_parts(counting, opp)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{key} {products}")
    lowered = fit_parts(index, {"industry": "RETAIL"})["industry"]
    assert lowered.sum() == sum(v in ("retail", "Retail") for v in index_values(index))


def index_values(index) -> list:
    col = index.columns["industry"]
    values = col.values.to_pylist()
    return [values[c] if c >= 0 else None for c in col.codes]
