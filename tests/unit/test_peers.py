"""Peers on the pipeline's own time split, and the value of the top of the list."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from advocacy.models.evaluate import top_list_value
from advocacy.models.peers import peer_predictions
from advocacy.models.splits import split_for_target
from advocacy.models.targets import ADVOCATE
from advocacy.settings import Settings
from tests.model_frames import CATEGORICAL, FEATURES, make_frame


def test_top_list_value_known_answer() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    assert top_list_value(y, p, k=2) == pytest.approx(1 / 2)  # 1 of the best possible 2
    assert top_list_value(y, p, k=3) == pytest.approx(2 / 3)
    assert top_list_value(y, p, k=10) == pytest.approx(1.0)  # everyone is on the list
    assert np.isnan(top_list_value(np.zeros(4), np.arange(4.0), k=2))


@pytest.mark.parametrize("peer", ["hgb", "logreg", "nps", "flaml"])
def test_each_peer_scores_every_holdout_row_from_train_rows_only(peer: str) -> None:
    frame = make_frame(n=1500)
    # a sentinel that equals the label on holdout rows only: a peer that saw holdout rows
    # while fitting would rank perfectly; one fit on train rows cannot use it
    settings = Settings()
    split = split_for_target(frame, ADVOCATE, settings)
    frame["noise"] = 0.0
    frame.loc[split.holdout_idx, "noise"] = frame.loc[split.holdout_idx, "label"] * 10.0
    preds = peer_predictions(
        frame,
        ADVOCATE,
        settings,
        split,
        peers=(peer,),
        budget=2,
        features=FEATURES,
        categorical=CATEGORICAL,
    )[peer]
    assert preds.shape == (len(split.holdout_idx),)
    assert np.all((preds >= 0) & (preds <= 1))
    y = frame["label"].to_numpy()[split.holdout_idx]
    assert roc_auc_score(y, preds) < 0.95


def test_unknown_peer_is_refused() -> None:
    frame = make_frame(n=600)
    split = split_for_target(frame, ADVOCATE, Settings())
    with pytest.raises(ValueError, match="unknown"):
        peer_predictions(frame, ADVOCATE, Settings(), split, peers=("gpt",))


def test_flaml_logs_nothing_into_the_callers_mlflow_run(mlflow_store) -> None:
    import mlflow

    frame = make_frame(n=800)
    settings = Settings()
    split = split_for_target(frame, ADVOCATE, settings)
    experiment = mlflow.create_experiment("peers")  # not a previous test's cached experiment
    with mlflow.start_run(experiment_id=experiment) as run:  # bench/peer_table.py's parent run
        peer_predictions(
            frame, ADVOCATE, settings, split, peers=("flaml",), budget=1,
            features=FEATURES, categorical=CATEGORICAL,
        )  # fmt: skip
    data = mlflow.get_run(run.info.run_id).data
    assert (data.params, data.metrics) == ({}, {})
