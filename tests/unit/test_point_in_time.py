"""Point in time: rows at or after t never change what is computed for t.

Property tests on random worlds whose rows straddle T (many exactly at T or on a window
edge): every frame built at T from the full files equals the frame built from the files as
they were exported at T. The same holds for each training row at its own t.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from advocacy.features import build, labels, registry
from advocacy.features import facts as facts_mod
from advocacy.features.state import OUTCOME_WINDOW_DAYS
from advocacy.settings import Settings
from tests.feature_worlds import T_TS, TIMELESS_ANSWERS, T, random_world

SETTINGS = Settings()
SEEDS = range(100, 106)
BUILDERS = {
    "advocate": build.build_advocate_training,
    "burnout": build.build_burnout_training,
    "scoring": build.build_scoring,
    "facts": facts_mod.eligibility_facts,
    "advocate_labels": labels.advocate_label_rows,
    "burnout_labels": labels.burnout_label_rows,
}


@pytest.mark.parametrize("seed", SEEDS)
def test_rows_at_or_after_t_change_nothing_at_t(seed, tmp_path):
    world = random_world(seed)
    full = world.connect(tmp_path / "full")
    cut = world.cut(T_TS).connect(tmp_path / "cut")
    assert (
        full.sql("SELECT count(*) FROM usage_events").fetchall()
        != cut.sql("SELECT count(*) FROM usage_events").fetchall()
    )
    for name, builder in BUILDERS.items():
        a, b = builder(full, T, SETTINGS), builder(cut, T, SETTINGS)
        pd.testing.assert_frame_equal(a, b, obj=f"{name} (seed {seed})")


# An export taken before the answers inside their response window were given: every feature
# and label reads an answer only once its window closed (features.state). Eligibility facts
# read the export's answers at T on purpose (features.state; tested in test_features.py).
FEATURES = registry.feature_names()
UNANSWERED_BUILDERS = ("advocate", "burnout", "scoring", "advocate_labels", "burnout_labels")
FEATURE_BUILDERS = ("advocate", "burnout", "scoring")


@pytest.mark.parametrize("seed", SEEDS)
def test_answers_not_given_yet_at_t_change_nothing(seed, tmp_path):
    """The export at T where asks still inside their response window are all pending."""
    world = random_world(seed)
    full = world.connect(tmp_path / "full")
    early = world.cut(T_TS, unsettled_days=OUTCOME_WINDOW_DAYS).connect(tmp_path / "early")
    for name in UNANSWERED_BUILDERS:
        a, b = BUILDERS[name](full, T, SETTINGS), BUILDERS[name](early, T, SETTINGS)
        pd.testing.assert_frame_equal(a, b, obj=f"{name} (seed {seed})")


def test_the_random_worlds_hold_answers_inside_their_window():
    """The test above means something only if the two exports differ in most worlds."""
    counts = [_timeless_answers_in_window(random_world(seed), T_TS) for seed in SEEDS]
    assert sum(n > 0 for n in counts) >= 4, counts


def _timeless_answers_in_window(world, at) -> int:
    """Declined / unanswered / cancelled asks made before `at` whose window is open at `at`."""
    at, window = pd.Timestamp(at), pd.Timedelta(days=OUTCOME_WINDOW_DAYS)
    return sum(
        r["status"] in TIMELESS_ANSWERS and r["requested_at"] < at <= r["requested_at"] + window
        for r in world.rows["advocacy_activities"]
        if r["requested_at"] is not None
    )


def test_the_random_worlds_exercise_every_feature(tmp_path):
    """The property tests above mean something only if each feature takes several values."""
    frames = []
    for seed in SEEDS[:3]:
        con = random_world(seed).connect(tmp_path / str(seed))
        frames += [BUILDERS[name](con, T, SETTINGS) for name in FEATURE_BUILDERS]
    values = pd.concat(frames)
    constant = [n for n in registry.feature_names() if values[n].dropna().nunique() < 2]
    assert set(constant) == {"account_industry", "account_region", "account_arr"}  # defaults


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_each_training_row_sees_only_rows_before_its_own_t(seed, tmp_path):
    """Features of a training row at t equal those built from the world exported at t, and
    those of an export at t where the answers still inside their window are not given yet."""
    world = random_world(seed)
    full = world.connect(tmp_path / "full")
    rows = pd.concat(
        [
            build.build_advocate_training(full, T, SETTINGS).head(4),
            build.build_burnout_training(full, T, SETTINGS).head(2),
        ]
    )
    assert len(rows) > 0
    window = OUTCOME_WINDOW_DAYS
    for i, row in enumerate(rows.to_dict("records")):
        t = pd.Timestamp(row["t"])
        points = pd.DataFrame([{k: row[k] for k in ("contact_id", "account_id", "t")}])
        as_of = (t + timedelta(days=1)).date() if t != t.normalize() else t.date()
        for kind in ("cut", "early"):
            export = world.cut(t, unsettled_days=window if kind == "early" else None)
            con = export.connect(tmp_path / f"{kind}{i}")
            again = build.build_features(con, points, as_of, SETTINGS).iloc[0]
            for name in FEATURES:
                a, b = row[name], again[name]
                assert a == b or (pd.isna(a) and pd.isna(b)), (kind, name, row["contact_id"], t)


def test_a_row_exactly_at_as_of_is_not_seen(tmp_path):
    world = random_world(7)
    base = world.connect(tmp_path / "base")
    for cid in ("C00", "C01"):
        world.usage(cid, T_TS, "invite_sent").nps(cid, T_TS, 0)
        world.activity(cid, T_TS, "declined").activity(cid, None, "completed", T_TS)
    world.ticket("A0", T_TS, priority="urgent").ticket("A1", T_TS, priority="high")
    more = world.connect(tmp_path / "more")
    for name, builder in BUILDERS.items():
        pd.testing.assert_frame_equal(
            builder(base, T, SETTINGS), builder(more, T, SETTINGS), obj=name
        )


def test_generated_world_cut_at_t_gives_the_same_frames(world_dir, tmp_path, as_of):
    """The synthetic generator's world (3000 contacts): full files vs files cut at T."""
    from advocacy.data_contracts.load import connect
    from tests.worlds import cut_at

    early = as_of - timedelta(days=60)  # the generated files end at T; cut 60 days earlier
    cut_dir = cut_at(world_dir, tmp_path / "cut", early)
    full, cut = connect(world_dir), connect(cut_dir)
    for name in ("advocate", "scoring", "facts", "burnout_labels"):
        a, b = BUILDERS[name](full, early, SETTINGS), BUILDERS[name](cut, early, SETTINGS)
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, obj=name)
