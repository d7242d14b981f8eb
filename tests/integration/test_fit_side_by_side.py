"""Both targets fitted side by side (`job.fit_models`): the same models as one after the other,
and a failure reported as one after the other would report it."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from advocacy.models.train import TrainingRowsError
from advocacy.pipelines import job
from advocacy.settings import settings_from_mapping


def _settings(threads: int):
    # tune off: the time-budgeted search may run fewer trials while the cores are shared
    return settings_from_mapping({"training": {"num_threads": threads, "tune": False}})


@pytest.fixture(scope="module")
def training(world_dir, as_of):
    return job.build_rows(world_dir, as_of, _settings(2), training=True, scoring=False).training


def _trees(fitted) -> list[str]:
    return [f.lightgbm_model.classifier.booster_.model_to_string() for f in fitted]


def test_side_by_side_only_with_several_targets_and_threads(training, monkeypatch):
    monkeypatch.delenv("ADVOCACY_NUM_THREADS", raising=False)
    assert job.side_by_side(training, _settings(2))
    assert not job.side_by_side(training, _settings(1))
    assert not job.side_by_side(training[:1], _settings(2))


def test_side_by_side_fits_the_same_models_in_target_order(training, monkeypatch):
    monkeypatch.delenv("ADVOCACY_NUM_THREADS", raising=False)
    settings = _settings(2)
    threads: dict[str, str] = {}
    real_fit = job.fit_model

    def fit_model(rows, settings):
        threads[rows.spec.name] = threading.current_thread().name
        return real_fit(rows, settings)

    monkeypatch.setattr(job, "fit_model", fit_model)
    together = job.fit_models(training, settings)
    first, last = (rows.spec.name for rows in training)
    assert threads == {first: "advocacy-fit_model", last: threading.main_thread().name}
    alone = [real_fit(rows, settings) for rows in training]
    assert [f.spec.name for f in together] == [rows.spec.name for rows in training]
    assert _trees(together) == _trees(alone)
    assert [f.metrics for f in together] == [f.metrics for f in alone]


@pytest.mark.parametrize("failing", [0, 1])
def test_a_failing_fit_raises_its_own_error(training, monkeypatch, failing):
    monkeypatch.delenv("ADVOCACY_NUM_THREADS", raising=False)
    rows = list(training)
    rows[failing] = replace(rows[failing], frame=rows[failing].frame.head(3))  # too few rows
    with pytest.raises(TrainingRowsError) as caught:
        job.fit_models(rows, _settings(2))
    assert caught.value.spec.name == rows[failing].spec.name
