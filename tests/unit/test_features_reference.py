"""Every feature, label and eligibility fact against a brute-force definition on random worlds.

The references below are written the slow, obvious way (filter the raw rows for one point,
then count), straight from the label rules (docs/models.md) and the feature descriptions,
with no shared code with the SQL engine. Random worlds put many rows exactly on the edges
(at T, at midnight, a microsecond before T), so an off-by-one in any window or state rule
shows up here.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from advocacy.features import build, labels, registry
from advocacy.features import facts as facts_mod
from advocacy.settings import Settings
from tests.feature_worlds import T_TS, T, World, random_world

DAY = pd.Timedelta(days=1)
SETTINGS = Settings()
SEEDS = range(6)


def _frames(world: World) -> dict[str, pd.DataFrame]:
    frames = {name: world.frame(name) for name in world.rows}
    for name, frame in frames.items():
        for col in frame.columns:
            if col.endswith("_at") or col in ("renewal_date",):
                frames[name][col] = pd.to_datetime(frame[col])
    return frames


def _days(later: pd.Timestamp, earlier: pd.Timestamp) -> float:
    return (later - earlier) / DAY


def ref_usage(f: dict[str, pd.DataFrame], contact: str, t: pd.Timestamp) -> dict[str, float]:
    ev = f["usage_events"]
    ev = ev[ev["contact_id"] == contact].assign(day=lambda x: x["occurred_at"].dt.normalize())
    d = t.normalize()
    ev = ev[ev["day"] < d]

    def within(w: int) -> pd.DataFrame:
        return ev[ev["day"] >= d - w * DAY]

    out = {}
    for w in (7, 30, 90):
        out[f"usage_events_{w}d"] = float(len(within(w)))
        out[f"usage_active_days_{w}d"] = float(within(w)["day"].nunique())
    recent, base = len(within(30)), len(within(90)) - len(within(30))
    out["usage_trend_30_vs_60"] = (recent / 30) / (base / 60) - 1 if base else np.nan
    out["usage_distinct_features_90d"] = float(within(90)["event"].nunique())
    out["usage_days_since_last"] = _days(d, ev["day"].max()) if len(ev) else np.nan
    for key, name in (("invite_sent", "invites"), ("integration_added", "integrations")):
        out[f"usage_{name}_90d"] = float((within(90)["event"] == key).sum())
        out[f"usage_{name}_total"] = float((ev["event"] == key).sum())
    return out


def ref_nps(f: dict[str, pd.DataFrame], contact: str, t: pd.Timestamp) -> dict[str, float]:
    r = f["nps_responses"]
    r = r[(r["contact_id"] == contact) & (r["responded_at"] < t)]
    r = r.sort_values(["responded_at", "response_id"])
    if r.empty:
        return {n: (0.0 if n == "nps_responses" else np.nan) for n in _names("nps")}
    last = r.iloc[-1]
    scores = r["score"].to_numpy(dtype=float)
    comment = last["comment"]
    text = "" if not isinstance(comment, str) else comment.strip()
    return {
        "nps_latest": scores[-1],
        "nps_days_since": _days(t, last["responded_at"]),
        "nps_mean_last3": scores[-3:].mean(),
        "nps_change": scores[-1] - scores[-2] if len(scores) > 1 else np.nan,
        "nps_is_promoter": float(scores[-1] >= 9),
        "nps_is_detractor": float(scores[-1] <= 6),
        "nps_responses": float(len(scores)),
        "nps_has_comment": float(bool(text)),
        "nps_comment_length": float(len(text)),
    }


def ref_support(f: dict[str, pd.DataFrame], account: str, t: pd.Timestamp) -> dict[str, float]:
    k = f["support_tickets"]
    k = k[(k["account_id"] == account) & (k["opened_at"] < t)]
    severe = k["priority"].isin(["high", "urgent"])
    recent = k["opened_at"] >= t - 90 * DAY
    is_open = k["closed_at"].isna() | (k["closed_at"] >= t)
    known = k[(k["closed_at"] < t) & k["csat"].notna()]
    return {
        "support_tickets_90d": float(recent.sum()),
        "support_severe_tickets_90d": float((recent & severe).sum()),
        "support_open_tickets": float(is_open.sum()),
        "support_open_severe_tickets": float((is_open & severe).sum()),
        "support_csat_mean": float(known["csat"].astype(float).mean()) if len(known) else np.nan,
    }


def ref_profile(f: dict[str, pd.DataFrame], contact: str, account: str, t: pd.Timestamp) -> dict:
    a = f["accounts"].set_index("account_id").loc[account]
    c = f["contacts"].set_index("contact_id").loc[contact]
    renewal = a["renewal_date"]
    return {
        "account_segment": a["segment"],
        "account_industry": a["industry"],
        "account_region": a["region"],
        "account_arr": float(a["arr"]),
        "account_employees": float(a["employees"]) if pd.notna(a["employees"]) else np.nan,
        "account_tenure_days": _days(t, pd.Timestamp(a["created_at"])),
        "account_days_to_renewal": _days(renewal, t) if pd.notna(renewal) else np.nan,
        "contact_persona": c["persona"],
        "contact_tenure_days": _days(t, pd.Timestamp(c["created_at"])),
    }


def ref_advocacy(f: dict[str, pd.DataFrame], contact: str, t: pd.Timestamp) -> dict[str, float]:
    a = f["advocacy_activities"]
    a = a[a["contact_id"] == contact]
    asks = a[a["requested_at"] < t]
    recent = asks["requested_at"] >= t - 90 * DAY
    done = a[(a["status"] == "completed") & (a["completed_at"] < t)]
    done_asks = done[done["requested_at"].notna()]
    # declined / no_response / cancelled have no time: settled once the 30-day window closed
    settled = asks["requested_at"] + 30 * DAY < t
    timeless = asks["status"].isin(["declined", "no_response", "cancelled"])
    declined = (asks["status"] == "declined") & settled
    silent = (asks["status"] == "no_response") & settled
    pending = (
        (asks["status"] == "pending")
        | ((asks["status"] == "completed") & ~(asks["completed_at"] < t))
        | (timeless & ~settled)
    )
    decided = len(done_asks) + declined.sum() + silent.sum()
    return {
        "adv_asks": float(len(asks)),
        "adv_asks_90d": float(recent.sum()),
        "adv_completions": float(len(done_asks)),
        "adv_completions_90d": float((done_asks["completed_at"] >= t - 90 * DAY).sum()),
        "adv_declines": float(declined.sum()),
        "adv_declines_90d": float((declined & recent).sum()),
        "adv_no_responses": float(silent.sum()),
        "adv_no_responses_90d": float((silent & recent).sum()),
        "adv_pending": float(pending.sum()),
        "adv_acceptance_rate": len(done_asks) / decided if decided else np.nan,
        "adv_days_since_last_ask": _days(t, asks["requested_at"].max()) if len(asks) else np.nan,
        "adv_days_since_last_completion": (
            _days(t, done["completed_at"].max()) if len(done) else np.nan
        ),
        "adv_unprompted": float(done["requested_at"].isna().sum()),
        "adv_activity_types_completed": float(done["activity_type"].nunique()),
    }


def _names(family: str) -> list[str]:
    return [s.name for s in registry.FEATURES if s.family == family]


def reference_row(f: dict[str, pd.DataFrame], contact: str, account: str, t) -> dict:
    t = pd.Timestamp(t)
    return {
        **ref_nps(f, contact, t),
        **ref_usage(f, contact, t),
        **ref_support(f, account, t),
        **ref_profile(f, contact, account, t),
        **ref_advocacy(f, contact, t),
    }


def assert_matches_reference(frame: pd.DataFrame, f: dict[str, pd.DataFrame]) -> None:
    assert list(frame.columns[3 : 3 + len(registry.FEATURES)]) == registry.feature_names()
    for row in frame.to_dict("records"):
        expected = reference_row(f, row["contact_id"], row["account_id"], row["t"])
        for name, want in expected.items():
            got = row[name]
            where = f"{name} for {row['contact_id']} at {row['t']}"
            if isinstance(want, str):
                assert got == want, where
            else:
                assert np.isclose(got, want, equal_nan=True, rtol=1e-9, atol=1e-6), (
                    f"{where}: got {got}, want {want}"
                )


def ref_advocate_labels(f: dict[str, pd.DataFrame]) -> set[tuple]:
    a = f["advocacy_activities"].merge(f["contacts"][["contact_id", "account_id"]])
    rows = set()
    for r in a.itertuples():
        if pd.isna(r.requested_at) or r.status == "cancelled":
            continue
        closes = r.requested_at + 30 * DAY
        if closes >= T_TS or r.requested_at < T_TS - 730 * DAY:
            continue
        yes = r.status == "completed" and r.completed_at <= closes
        rows.add((r.contact_id, r.account_id, r.activity_id, r.requested_at, int(yes)))
    return rows


def ref_burnout_labels(f: dict[str, pd.DataFrame]) -> set[tuple]:
    acts, nps = f["advocacy_activities"], f["nps_responses"]
    accounts = f["accounts"].set_index("account_id")
    rows = set()
    for s in labels.snapshot_grid(T, SETTINGS):
        s = pd.Timestamp(s)
        end = s + 90 * DAY
        for c in f["contacts"].itertuples():
            acc = accounts.loc[c.account_id]
            active = (
                ((acts["contact_id"] == c.contact_id) & (acts["status"] == "completed")
                 & (acts["completed_at"] < s)).any()
                and not (pd.notna(c.advocacy_opt_out_at) and c.advocacy_opt_out_at < s)
                and not (pd.notna(acc["churned_at"]) and pd.Timestamp(acc["churned_at"]) < s)
                and pd.Timestamp(c.created_at) < s
                and pd.Timestamp(acc["created_at"]) < s
            )  # fmt: skip
            if not active:
                continue

            def in_window(ts, s=s, end=end) -> bool:
                return pd.notna(ts) and s < ts <= end and ts < T_TS

            mine = nps[(nps["contact_id"] == c.contact_id) & (nps["score"] <= 6)]
            burned = in_window(c.advocacy_opt_out_at) or any(map(in_window, mine["responded_at"]))
            rows.add((c.contact_id, c.account_id, s, int(burned)))
    return rows


def ref_facts(f: dict[str, pd.DataFrame], contact: str) -> dict:
    c = f["contacts"].set_index("contact_id").loc[contact]
    a = f["advocacy_activities"]
    asks = a[(a["contact_id"] == contact) & (a["requested_at"] < T_TS)]
    pending = (asks["status"] == "pending") | (
        (asks["status"] == "completed") & ~(asks["completed_at"] < T_TS)
    )
    n = f["nps_responses"]
    n = n[(n["contact_id"] == contact) & (n["responded_at"] < T_TS)]
    n = n.sort_values(["responded_at", "response_id"])
    k = f["support_tickets"]
    k = k[(k["account_id"] == c["account_id"]) & (k["opened_at"] < T_TS)]
    blocking = (k["closed_at"].isna() | (k["closed_at"] >= T_TS)) & k["priority"].isin(
        ["high", "urgent"]
    )
    return {
        "do_not_contact": bool(c["do_not_contact"]),
        "opted_out": bool(pd.notna(c["advocacy_opt_out_at"]) and c["advocacy_opt_out_at"] < T_TS),
        "asks_recent": int((asks["requested_at"] >= T_TS - 30 * DAY).sum()),
        "asks_90d": int((asks["requested_at"] >= T_TS - 90 * DAY).sum()),
        "asks_365d": int((asks["requested_at"] >= T_TS - 365 * DAY).sum()),
        "asks_pending": int(pending.sum()),
        "latest_nps": float(n["score"].iloc[-1]) if len(n) else np.nan,
        "blocking_tickets": int(blocking.sum()),
    }


@pytest.fixture(params=SEEDS, ids=lambda s: f"seed{s}")
def world_con(request, tmp_path):
    world = random_world(request.param)
    con = world.connect(tmp_path)
    yield world, _frames(world), con
    con.close()


def test_scoring_features_match_the_reference(world_con):
    _, f, con = world_con
    frame = build.build_scoring(con, T, SETTINGS)
    assert len(frame) > 0
    assert_matches_reference(frame, f)


def test_training_features_match_the_reference(world_con):
    _, f, con = world_con
    advocate = build.build_advocate_training(con, T, SETTINGS)
    burnout = build.build_burnout_training(con, T, SETTINGS)
    assert_matches_reference(advocate, f)
    assert_matches_reference(burnout, f)


def test_labels_match_the_reference(world_con):
    _, f, con = world_con
    adv = labels.advocate_label_rows(con, T, SETTINGS)
    got = {
        (r.contact_id, r.account_id, r.activity_id, pd.Timestamp(r.t), r.label)
        for r in adv.itertuples()
    }
    assert got == ref_advocate_labels(f)
    burn = labels.burnout_label_rows(con, T, SETTINGS)
    got = {(r.contact_id, r.account_id, pd.Timestamp(r.t), r.label) for r in burn.itertuples()}
    assert got == ref_burnout_labels(f)


def test_scoring_population_and_facts_match_the_reference(world_con):
    _, f, con = world_con
    facts = facts_mod.eligibility_facts(con, T, SETTINGS)
    accounts = f["accounts"].set_index("account_id")
    population = sorted(
        c.contact_id
        for c in f["contacts"].itertuples()
        if pd.Timestamp(c.created_at) < T_TS
        and c.account_id in accounts.index
        and pd.Timestamp(accounts.loc[c.account_id, "created_at"]) < T_TS
        and not (
            pd.notna(accounts.loc[c.account_id, "churned_at"])
            and pd.Timestamp(accounts.loc[c.account_id, "churned_at"]) < T_TS
        )
    )
    assert facts["contact_id"].tolist() == population
    assert build.build_scoring(con, T, SETTINGS)["contact_id"].tolist() == population
    for row in facts.to_dict("records"):
        want = ref_facts(f, row["contact_id"])
        for name, value in want.items():
            assert np.isclose(row[name], value, equal_nan=True), (row["contact_id"], name)


def test_a_window_edge_is_exact_to_the_microsecond(tmp_path):
    """Rows at exactly t are not seen; a microsecond earlier they are."""
    t = T_TS - timedelta(days=40) + timedelta(hours=15)
    world = World().account().contact()
    for when in (t, t - timedelta(microseconds=1)):
        world.nps("C1", when, 3 if when == t else 9)
        world.activity("C1", when, "declined")
    world.ticket("A1", t, priority="urgent").ticket("A1", t - timedelta(days=90), priority="high")
    con = world.connect(tmp_path)
    points = pd.DataFrame({"contact_id": ["C1"], "account_id": ["A1"], "t": [t]})
    row = build.build_features(con, points, T, SETTINGS).iloc[0]
    assert row["nps_latest"] == 9 and row["nps_responses"] == 1
    assert row["adv_asks"] == 1 and row["adv_pending"] == 1  # declined: not settled at t
    assert row["adv_declines"] == 0
    assert row["support_open_tickets"] == 1  # the one opened exactly at t is not yet open
    assert row["support_severe_tickets_90d"] == 1  # opened exactly 90 days before t: inside
