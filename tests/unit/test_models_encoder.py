"""The categorical encoder and the pyfunc wrapper, without an MLflow store."""

from __future__ import annotations

import ast
import importlib.util
import sys
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from advocacy.models import pyfunc_model
from advocacy.models.calibrate import fit_margin_calibrator
from advocacy.models.pyfunc_model import (
    AdvocacyModel,
    CategoryEncoder,
    FeatureColumnsError,
    is_feature_columns_error,
)

# Top-level modules the model's code file may import: the standard library and REQUIREMENTS.
THIRD_PARTY = {"mlflow", "lightgbm", "numpy", "pandas", "sklearn", "scipy"}


def test_codes_are_stable_sorted_and_unknown_is_nan():
    fit = pd.DataFrame({"seg": pd.Series(["smb", "enterprise", None, "smb"], dtype="str")})
    enc = CategoryEncoder.fit(fit, ["seg"])
    assert enc.categories == {"seg": ("enterprise", "smb")}
    out = enc.transform(pd.DataFrame({"seg": ["smb", "enterprise", "mid_market", None]}))
    assert out["seg"].dtype == "float64"
    np.testing.assert_array_equal(out["seg"].to_numpy(), [1.0, 0.0, np.nan, np.nan])


def test_object_and_str_columns_encode_alike_and_dict_round_trip():
    enc = CategoryEncoder.fit(pd.DataFrame({"s": ["b", "a"]}), ["s"])
    as_obj = enc.transform(pd.DataFrame({"s": pd.Series(["a", None], dtype=object)}))
    as_str = enc.transform(pd.DataFrame({"s": pd.Series(["a", None], dtype="str")}))
    pd.testing.assert_frame_equal(as_obj, as_str)
    assert CategoryEncoder.from_dict(enc.to_dict()) == enc
    assert enc != CategoryEncoder.from_dict({"s": ["a"]})


def test_missing_feature_column_is_a_clear_error():
    enc = CategoryEncoder.fit(pd.DataFrame({"s": ["a"]}), ["s"])
    model = AdvocacyModel(
        classifier=None, calibrator=None, encoder=enc, features=["x", "s"], target="advocate"
    )
    with pytest.raises(FeatureColumnsError, match="x"):
        model.encode(pd.DataFrame({"s": ["a"]}))
    encoded = model.encode(pd.DataFrame({"s": ["a"], "x": [1], "extra": [0]}))
    assert list(encoded.columns) == ["x", "s"] and encoded["x"].dtype == "float64"


def test_the_model_code_file_imports_no_project_module():
    """The registered model runs this file alone: only stdlib and the pinned packages."""
    tree = ast.parse(pyfunc_model.CODE_FILE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports do not exist in the logged copy"
            imported.add(str(node.module).split(".")[0])
    assert imported - set(sys.stdlib_module_names) <= THIRD_PARTY
    assert {"mlflow", "scikit-learn", "lightgbm"} <= set(pyfunc_model.REQUIREMENTS)


def _copy_of_the_code_file():
    """The file as MLflow runs it: on its own, under another module name (declares a model)."""
    spec = importlib.util.spec_from_file_location("copy_of_model_code", pyfunc_model.CODE_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_a_loaded_copy_of_the_file_is_recognised_by_value_and_by_name():
    import mlflow.models.model

    copy = _copy_of_the_code_file()
    try:
        assert isinstance(mlflow.models.model.__mlflow_model__, copy.AdvocacyModel)
    finally:
        mlflow.models.model.__mlflow_model__ = None
    assert copy.CategoryEncoder.from_dict({"s": ["a"]}) == CategoryEncoder.from_dict({"s": ["a"]})
    assert is_feature_columns_error(copy.FeatureColumnsError("x"))
    assert not is_feature_columns_error(KeyError("x"))


def _fitted(method: str) -> tuple[AdvocacyModel, pd.DataFrame]:
    rng = np.random.default_rng(5)
    n = 900
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "seg": pd.Series(rng.choice(["x", "y", "z"], n), dtype="str"),
        }
    )
    y = (X["a"] + np.nan_to_num(X["b"]) + rng.normal(size=n) > 0).astype(int).to_numpy()
    model = AdvocacyModel(
        encoder=CategoryEncoder.fit(X, ["seg"]), features=["a", "b", "seg"], target="advocate"
    )
    E = model.encode(X)
    clf = lgb.LGBMClassifier(n_estimators=200, verbosity=-1, deterministic=True)
    clf.fit(
        E[:600],
        y[:600],
        categorical_feature=["seg"],
        eval_X=(E[600:],),
        eval_y=(y[600:],),
        callbacks=[lgb.early_stopping(5, verbose=False)],
    )
    margin = clf.predict(E[600:], raw_score=True)
    model.classifier, model.calibrator = clf, fit_margin_calibrator(margin, y[600:], method)
    return model, X


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_scores_as_the_fitted_objects_and_survives_its_artifacts(method, tmp_path):
    model, X = _fitted(method)
    E = model.encode(X)
    margin = model.classifier.predict(E, raw_score=True).reshape(-1, 1)
    expected = model.calibrator.predict_proba(margin)[:, 1]  # what sklearn + LightGBM give
    np.testing.assert_array_equal(model.predict_proba(X), expected)
    booster = model.classifier.booster_
    contrib = booster.predict(E, pred_contrib=True, num_iteration=booster.best_iteration)
    # Once per split pattern (pyfunc_model.tree_contributions): equal up to addition order.
    np.testing.assert_allclose(model.contributions(X).to_numpy(), contrib, rtol=0, atol=1e-12)

    loaded = AdvocacyModel()
    loaded.load_context(SimpleNamespace(artifacts=model.save_artifacts(tmp_path)))
    assert (loaded.features, loaded.target, loaded.encoder) == (
        model.features,
        model.target,
        model.encoder,
    )
    np.testing.assert_array_equal(loaded.predict(None, X), expected)
    pd.testing.assert_frame_equal(loaded.contributions(X), model.contributions(X))


def test_a_model_neither_fitted_nor_loaded_says_so():
    with pytest.raises(RuntimeError, match="neither fitted nor loaded"):
        AdvocacyModel(features=["a"]).predict_proba(pd.DataFrame({"a": [1.0]}))
