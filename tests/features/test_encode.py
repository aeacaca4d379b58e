import numpy as np
import pandas as pd
import pytest

from features.encode import encode, feature_names, missing_predictors
from features.schema import FIELDS_BY_NAME
from features.validate import validate_frame, validate_record


def test_encoding_is_deterministic_and_named(valid_record):
    frame = validate_frame(pd.DataFrame([valid_record] * 3, dtype=object)).frame
    a, b = encode(frame, "day28"), encode(frame.copy(), "day28")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == feature_names("day28")
    assert set(feature_names("infusion")) < set(feature_names("day28"))


def test_missing_values_get_reference_and_indicator(valid_record):
    row = validate_record(dict(valid_record, tmtv_ml=None, tp53_status=None))
    x = encode(row.to_frame().T, "infusion").iloc[0]
    assert x["tmtv_ml_missing"] == 1.0
    assert x["log1p_tmtv_ml"] == pytest.approx(np.log1p(FIELDS_BY_NAME["tmtv_ml"].reference))
    assert x["tp53_status_missing"] == 1.0 and x["tp53_altered"] == 0.0
    assert missing_predictors(row.to_frame().T, "infusion") == [("tmtv_ml", "tp53_status")]


def test_encoding_values(valid_record):
    row = validate_record(dict(valid_record, ctdna_d28="detectable", cart_cmax_per_ul=20))
    x = encode(row.to_frame().T, "day28").iloc[0]
    assert x["ldh_elevated"] == 1.0
    assert x["log2_ldh_ratio"] == pytest.approx(np.log2(410 / 250))
    assert x["bridging_any"] == 1.0 and x["bridging_chemotherapy"] == 1.0
    assert x["bridging_radiotherapy"] == 0.0
    assert x["ctdna_detectable"] == 1.0
    assert x["log1p_cart_cmax_per_ul"] == pytest.approx(np.log1p(20))
    assert not np.isnan(encode(row.to_frame().T, "day28").to_numpy()).any()


def test_unknown_landmark():
    with pytest.raises(ValueError, match="landmark must be one of"):
        feature_names("day90")
