"""Inverse inclusion-probability weights for training rows (models/weights.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advocacy.models.weights import inclusion_weights


def _asks(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contact_id": [c for c, _ in rows],
            "t": pd.to_datetime([t for _, t in rows], format="ISO8601"),
        }
    )


def _published(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["contact_id", "as_of", "selection", "inclusion_probability"])


def test_explore_ask_gets_inverse_probability_and_others_one_before_normalising():
    asks = _asks([("A", "2026-01-06 10:00"), ("B", "2026-01-07"), ("C", "2026-01-08")])
    lists = _published([("A", "2026-01-05", "explore", 0.25), ("B", "2026-01-05", "optimise", 1.0)])
    w = inclusion_weights(asks, lists)
    raw = np.array([4.0, 1.0, 1.0])  # C was on no list
    np.testing.assert_allclose(w, raw / raw.mean())
    assert w.mean() == pytest.approx(1.0)


def test_a_list_published_after_the_ask_never_matches():
    asks = _asks([("A", "2026-01-04 23:59"), ("B", "2026-01-05 00:00")])
    lists = _published([("A", "2026-01-05", "explore", 0.1), ("B", "2026-01-05", "explore", 0.5)])
    w = inclusion_weights(asks, lists)
    raw = np.array([1.0, 2.0])  # A asked a minute before the list existed; B at its midnight
    np.testing.assert_allclose(w, raw / raw.mean())


def test_match_window_is_half_open_and_newest_list_wins():
    asks = _asks([("A", "2026-01-19 00:00"), ("A", "2026-01-18 23:00"), ("B", "2026-01-20")])
    lists = _published(
        [
            ("A", "2026-01-05", "explore", 0.5),  # 14 days before the first ask: outside
            ("B", "2026-01-05", "explore", 0.2),
            ("B", "2026-01-12", "optimise", 1.0),  # newer list named B: that one counts
        ]
    )
    w = inclusion_weights(asks, lists, match_days=14)
    raw = np.array([1.0, 2.0, 1.0])
    np.testing.assert_allclose(w, raw / raw.mean())


def test_weights_are_clipped_and_no_lists_give_ones():
    asks = _asks([("A", "2026-01-06"), ("B", "2026-01-06")])
    lists = _published([("A", "2026-01-05", "explore", 0.001)])
    raw = np.array([20.0, 1.0])
    np.testing.assert_allclose(inclusion_weights(asks, lists, clip=20.0), raw / raw.mean())
    empty = _published([])
    np.testing.assert_array_equal(inclusion_weights(asks, empty), np.ones(2))


def test_bad_inputs_are_refused():
    asks = _asks([("A", "2026-01-06")])
    with pytest.raises(ValueError, match="inclusion_probability"):
        inclusion_weights(asks, _published([("A", "2026-01-05", "explore", 0.0)]))
    with pytest.raises(ValueError, match="lack column"):
        inclusion_weights(asks, pd.DataFrame({"contact_id": ["A"]}))
