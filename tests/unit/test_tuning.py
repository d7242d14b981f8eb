"""Tuning and cross-validation on time-ordered folds: honest out-of-fold rows, defaults first,
seeded, and within the budget."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from advocacy.models.pyfunc_model import CategoryEncoder
from advocacy.models.splits import time_folds
from advocacy.models.train import lightgbm_params
from advocacy.models.tuning import TUNED, CVResult, clearly_better, cross_validate, tune
from advocacy.settings import Settings
from tests.model_frames import CATEGORICAL, FEATURES, frame_spec, make_frame, with_training

GAP = 30


def _data(n: int = 1200, seed: int = 0):
    frame = make_frame(n=n, seed=seed)
    X = CategoryEncoder.fit(frame, CATEGORICAL).transform(frame[FEATURES])
    X[[c for c in FEATURES if c not in CATEGORICAL]] = X[
        [c for c in FEATURES if c not in CATEGORICAL]
    ].astype(float)
    base = lightgbm_params(frame_spec("advocate"), FEATURES, Settings())
    return X, frame["label"].to_numpy(dtype=int), frame["t"], base


def test_out_of_fold_rows_are_each_scored_by_a_model_that_only_saw_older_rows():
    X, y, t, base = _data()
    settings = with_training(Settings(), tune_folds=3)
    cv = cross_validate(X, y, t, base, CATEGORICAL, GAP, settings)
    folds = time_folds(t, 3, GAP)
    assert np.array_equal(cv.oof_idx, np.concatenate([test for _, test in folds]))
    assert len(np.unique(cv.oof_idx)) == len(cv.oof_idx)  # no row scored twice
    for train, test in folds:  # every training row's label closed before its fold's test block
        assert (t.iloc[train] + pd.Timedelta(days=GAP)).max() < t.iloc[test].min()
    assert t.iloc[cv.oof_idx].min() > t.min()  # the oldest block is never out-of-fold
    assert np.isfinite(cv.oof_margin).all() and cv.rounds >= 1
    assert 0 < cv.log_loss < np.log(2)  # the toy signal is learnable: better than a coin


def test_tune_off_keeps_the_defaults_in_one_cv_run():
    X, y, t, base = _data()
    tuned = tune(X, y, t, base, CATEGORICAL, GAP, with_training(Settings(), tune=False))
    assert tuned.params == base and tuned.trials == 1


def test_tuning_starts_from_the_defaults_and_never_ends_worse_on_cv():
    X, y, t, base = _data()
    settings = with_training(Settings(), tune_trials=5, tune_folds=2, tune_min_rows=0)
    defaults = cross_validate(X, y, t, base, CATEGORICAL, GAP, settings)
    tuned = tune(X, y, t, base, CATEGORICAL, GAP, settings)
    assert tuned.trials == 5
    assert tuned.cv.log_loss <= defaults.log_loss + 1e-12
    assert set(tuned.as_dict()["best_params"]) == set(TUNED)
    again = tune(X, y, t, base, CATEGORICAL, GAP, settings)
    assert again.params == tuned.params  # seeded TPE: the same search twice


def test_defaults_outside_a_small_frames_range_still_seed_the_search():
    X, y, t, base = _data(n=400)
    base = {**base, "min_child_samples": 100}  # above the n // 20 = 20 the space would allow
    settings = with_training(Settings(), tune_trials=2, tune_folds=2, tune_min_rows=0)
    with warnings.catch_warnings():  # Optuna warns when an enqueued value is out of range
        warnings.simplefilter("error", UserWarning)
        tuned = tune(X, y, t, base, CATEGORICAL, GAP, settings)
    assert tuned.trials == 2


def test_a_trial_replaces_the_defaults_only_when_clearly_better():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    idx = np.arange(4000)
    signal = np.where(y == 1, 1.0, -1.0)
    defaults = CVResult(0.6, 10, idx, 0.5 * signal + rng.normal(0, 1, 4000))
    much = CVResult(0.5, 10, idx, 1.5 * signal + rng.normal(0, 1, 4000))
    noisy = CVResult(0.599, 10, idx, defaults.oof_margin + rng.normal(0, 0.05, 4000))
    assert clearly_better(much, defaults, y)
    assert not clearly_better(noisy, defaults, y)  # a hair better on average is noise
    assert not clearly_better(defaults, defaults, y)


def test_too_few_rows_to_tell_trials_apart_keep_the_defaults():
    X, y, t, base = _data(n=1200)
    settings = with_training(Settings(), tune_trials=5, tune_min_rows=1201)
    tuned = tune(X, y, t, base, CATEGORICAL, GAP, settings)
    assert tuned.params == base and tuned.trials == 1


def test_no_trial_starts_that_the_budget_cannot_fit():
    """Optuna's timeout lets a trial start just before the budget runs out and overrun it
    (at 1M contacts a second 9-14 s CV after a first one); the callback starts a trial only
    if one as long as the mean so far still ends within the budget."""
    import time

    import optuna

    from advocacy.models.tuning import _stop_before_overrun

    def objective(trial: optuna.Trial) -> float:
        time.sleep(0.3)
        return trial.suggest_float("x", 0.0, 1.0)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, start = optuna.create_study(), time.perf_counter()
    callbacks = [_stop_before_overrun(start, 0.8)]
    study.optimize(objective, n_trials=10, timeout=0.8, callbacks=callbacks)
    # 0.3 + 0.3 fits in 0.8; a third (0.6 + 0.3) would not, so it never starts (Optuna's
    # timeout alone would start it at 0.6 s and end at 0.9 s)
    assert len(study.trials) == 2
    assert time.perf_counter() - start < 0.8 + 0.3
