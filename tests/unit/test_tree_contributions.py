"""`tree_contributions` (contributions once per split pattern) against LightGBM's pred_contrib."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest

from advocacy.models.pyfunc_model import tree_contributions


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Numerics with NaNs, a never-missing numeric, exact zeros, and a categorical code column."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.normal(size=n),
            rng.integers(0, 3, n).astype(float),  # many exact zeros
            rng.integers(0, 6, n).astype(float),  # categorical codes
        ]
    )
    X[rng.random(n) < 0.2, 0] = np.nan
    X[rng.random(n) < 0.1, 3] = np.nan
    logit = X[:, 1] + np.nan_to_num(X[:, 0]) * 0.5 + (X[:, 2] == 0) - (X[:, 3] % 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _booster(X: np.ndarray, y: np.ndarray, **params: object) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5}
    data = lgb.Dataset(X, y, categorical_feature=[3], params={"verbose": -1})
    return lgb.train({**base, **params, "num_threads": 1}, data, num_boost_round=30)


def _missing_types(booster: lgb.Booster) -> set[str]:
    text = json.dumps(booster.dump_model()["tree_info"])
    return {kind for kind in ("None", "NaN", "Zero") if f'"missing_type": "{kind}"' in text}


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"max_depth": 3}])
def test_equals_pred_contrib_on_rows_it_never_saw(params):
    X, y = _data(3000, seed=1)
    booster = _booster(X, y, **params)
    fresh, _ = _data(2000, seed=2)  # new rows: NaNs and unseen values take the default sides
    fresh[:50, 3] = 9.0  # a category the model never saw goes right
    expected = booster.predict(fresh, pred_contrib=True)
    got = tree_contributions(booster, fresh)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert not np.array_equal(got[:, :-1], np.zeros_like(got[:, :-1]))


def test_the_split_rules_cover_every_missing_type():
    X, y = _data(3000, seed=1)
    assert _missing_types(_booster(X, y)) >= {"None", "NaN"}
    assert "Zero" in _missing_types(_booster(X, y, zero_as_missing=True))


def test_a_model_with_several_trees_per_iteration_falls_back_to_one_call():
    X, y = _data(600, seed=3)
    data = lgb.Dataset(X, y % 3 + (X[:, 1] > 1), params={"verbose": -1})
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1}, data, 5
    )
    np.testing.assert_array_equal(
        tree_contributions(booster, X), booster.predict(X, pred_contrib=True)
    )


def test_a_wrong_split_rule_is_caught_and_the_plain_call_answers(monkeypatch):
    from advocacy.models import pyfunc_model

    X, y = _data(1000, seed=4)
    booster = _booster(X, y)
    # Every row "goes left everywhere": rows with different sides share one pattern.
    monkeypatch.setattr(pyfunc_model, "_goes_left", lambda node, cols: np.ones(len(cols.X), bool))
    np.testing.assert_array_equal(
        tree_contributions(booster, X), booster.predict(X, pred_contrib=True)
    )
