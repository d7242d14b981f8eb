"""The categorical encoder and the pyfunc wrapper, without MLflow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from advocacy.models.pyfunc_model import AdvocacyModel, CategoryEncoder, FeatureColumnsError


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


def test_missing_feature_column_is_a_clear_error():
    enc = CategoryEncoder.fit(pd.DataFrame({"s": ["a"]}), ["s"])
    model = AdvocacyModel(
        classifier=None, calibrator=None, encoder=enc, features=["x", "s"], target="advocate"
    )
    with pytest.raises(FeatureColumnsError, match="x"):
        model.encode(pd.DataFrame({"s": ["a"]}))
    encoded = model.encode(pd.DataFrame({"s": ["a"], "x": [1], "extra": [0]}))
    assert list(encoded.columns) == ["x", "s"] and encoded["x"].dtype == "float64"
