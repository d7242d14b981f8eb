"""Off-policy estimates from logged asks (monitoring/offpolicy.py), on simulated known truth."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from advocacy.monitoring.offpolicy import (
    MIN_LOGGED,
    exploration_estimate,
    ips,
    policy_value,
    published_selections,
    snips,
)

N_ASKS, N_ACTIONS = 400, 3


def _bandit(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Contexts with a known yes chance per action; logging picks actions at random with
    context-dependent probabilities; the target always picks action 0 or 2 by a context bit."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, N_ASKS)
    truth = np.array([[0.2, 0.4, 0.1], [0.5, 0.3, 0.6]])[x]  # P(yes | context, action)
    logging = np.where(x[:, None] == 0, [0.6, 0.3, 0.1], [0.2, 0.5, 0.3])
    action = (rng.random(N_ASKS)[:, None] > logging.cumsum(axis=1)).sum(axis=1)
    reward = (rng.random(N_ASKS) < truth[np.arange(N_ASKS), action]).astype(float)
    target_action = np.where(x == 0, 0, 2)
    target_p = (action == target_action).astype(float)
    value = float(truth[np.arange(N_ASKS), target_action].mean())
    return reward, logging[np.arange(N_ASKS), action], target_p, value


@pytest.mark.parametrize("estimator", [ips, snips])
def test_intervals_cover_the_truth_at_their_level(estimator):
    covered = 0
    for seed in range(200):
        reward, logging_p, target_p, truth = _bandit(seed)
        r = estimator(reward, logging_p, target_p, n_boot=300, level=0.9, seed=seed)
        assert r.estimate is not None and r.low <= r.estimate <= r.high
        covered += r.low <= truth <= r.high
    assert covered / 200 >= 0.85


def test_target_equal_to_logging_gives_the_plain_mean():
    reward, logging_p, _, _ = _bandit(1)
    for estimator in (ips, snips):
        r = estimator(reward, logging_p, logging_p, n_boot=50)
        assert r.estimate == pytest.approx(reward.mean())
        assert r.n_effective == pytest.approx(len(reward))


def test_too_few_logged_asks_give_no_number_and_say_so():
    reward, logging_p, target_p, _ = _bandit(2)
    few = ips(reward[: MIN_LOGGED - 1], logging_p[: MIN_LOGGED - 1], target_p[: MIN_LOGGED - 1])
    assert few.estimate is None and few.low is None
    assert few.verdict.startswith(f"too few logged asks to tell (n={MIN_LOGGED - 1}")
    # many logged asks, but the target would have made almost none of them
    rare = np.zeros(len(reward))
    rare[:3] = 1.0
    thin = snips(reward, logging_p, rare)
    assert thin.estimate is None and thin.n_effective < 10
    assert "too few logged asks" in thin.verdict


def _logged(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """An explored pool: contact i included with probability p_i, says yes with chance q_i."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, n)
    q = np.where(p > 0.3, 0.6, 0.15)  # people explored more often say yes more often
    asked = rng.random(n) < p
    frame = pd.DataFrame(
        {
            "contact_id": [f"C{i}" for i in range(n)],
            "activity_type": np.where(np.arange(n) % 2, "review", "referral"),
            "inclusion_probability": p,
            "said_yes": (rng.random(n) < q).astype(int),
        }
    )
    return frame[asked].reset_index(drop=True), q


def test_exploration_estimate_undoes_unequal_inclusion():
    logged, q = _logged(4000, seed=3)
    hajek = exploration_estimate(logged, n_boot=300)
    assert hajek.estimator == "hajek"
    assert hajek.low <= q.mean() <= hajek.high
    assert logged["said_yes"].mean() > q.mean() + 0.02  # the raw mean is biased upward
    ht = exploration_estimate(logged, n_boot=300, pool_size=4000)
    assert ht.estimator == "horvitz_thompson" and ht.low <= q.mean() <= ht.high


def test_policy_value_credits_only_the_pairs_the_target_would_ask():
    logged, q = _logged(4000, seed=4)
    pool = pd.DataFrame(
        {
            "contact_id": [f"C{i}" for i in range(4000)],
            "activity_type": np.where(np.arange(4000) % 2, "review", "referral"),
        }
    )
    target = pool[q > 0.5]  # the target asks exactly the people with q = 0.6
    for estimator in ("ips", "snips"):
        r = policy_value(logged, target, n_boot=300, estimator=estimator)
        assert r.low <= 0.6 <= r.high
    wrong_type = target.assign(activity_type="speaking")  # never logged: nothing to go on
    assert policy_value(logged, wrong_type).estimate is None
    with pytest.raises(ValueError, match="lack column"):
        policy_value(logged.drop(columns="said_yes"), target)


def test_published_selections_read_earlier_lists_old_and_new(tmp_path):
    def publish(day: str, frame: pd.DataFrame) -> None:
        (tmp_path / day).mkdir()
        frame.to_csv(tmp_path / day / "candidates.csv", index=False, encoding="utf-8-sig")
        (tmp_path / day / "run.json").write_text("{}")

    publish("2026-01-05", pd.DataFrame({"contact_id": ["A"], "suggested_activity": ["review"]}))
    new = pd.DataFrame(
        {
            "contact_id": ["'=B", "C"],  # a formula-escaped id comes back as written
            "activity_type": ["referral", "speaking"],
            "selection": ["explore", "optimise"],
            "inclusion_probability": [0.125, 1.0],
        }
    )
    publish("2026-01-12", new)
    publish("2026-01-19", new)  # on T itself: not an earlier list
    got = published_selections(tmp_path, date(2026, 1, 19))
    assert got.to_dict("list") == {
        "contact_id": ["A", "=B", "C"],
        "as_of": [pd.Timestamp("2026-01-05")] + [pd.Timestamp("2026-01-12")] * 2,
        "selection": ["optimise", "explore", "optimise"],
        "inclusion_probability": [1.0, 0.125, 1.0],
        "activity_type": ["review", "referral", "speaking"],
    }
    assert published_selections(tmp_path / "none", date(2026, 1, 19)).empty
