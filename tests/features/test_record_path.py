"""The fast single-record path (check_record, encode_record) against the table path.

Property-based: for any record hypothesis builds, both paths accept or reject it alike, with
the same (field, value, error) problems, and encode accepted records to the same numbers.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from features.encode import encode, encode_record, feature_names
from features.errors import SchemaError
from features.schema import FIELDS
from features.validate import check_record, validate_frame

_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            " ",
            "3",
            "2.5",
            "nan",
            "inf",
            "x",
            "altered",
            "wild_type",
            "none",
            "chemotherapy",
            "detectable",
            "undetectable",
            "CR",
            " 4 ",
            "1e3",
            "1e999",
            "-Infinity",
            " altered",
        ]
    ),
    # Where check_record's inline cases end: floats' exact integers, and beyond float range.
    st.sampled_from(
        [2**53 - 1, 2**53, -(2**53) + 1, 10**400, -(10**400), 2.0000000001, -1e-300, 1.5e308]
    ),
    st.integers(),
)


def _plausible(field):
    if field.kind == "category":
        return st.one_of(st.none(), st.sampled_from(field.categories))
    if field.kind == "string":
        return st.one_of(st.none(), st.text(max_size=8))
    lo, hi = field.minimum or 0, field.maximum or 100
    if field.kind == "integer":
        return st.one_of(st.none(), st.integers(int(lo), int(hi)))
    return st.one_of(st.none(), st.floats(lo, hi, allow_nan=False))


PREDICTORS = [f for f in FIELDS if f.role != "outcome"]
records = st.fixed_dictionaries(
    {}, optional={f.name: st.one_of(_plausible(f), _plausible(f), _ANY) for f in PREDICTORS}
)


def _table_problems(record):
    result = validate_frame(
        pd.DataFrame([record], dtype=object) if record else pd.DataFrame(index=[0]),
        allow_outcomes=False,
    )
    return result, [(e.field, e.value, e.error) for e in result.error_list()]


@settings(
    max_examples=int(__import__("os").environ.get("HYPOTHESIS_EXAMPLES", 400)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(records)
# Found by this test: a float NaN in a text field was the ID "nan" in a table, an error in a
# record; both reject it now (unless the caller trusts NaN as missing).
@example({"patient_id": float("nan")})
def test_record_path_agrees_with_table_path(record):
    result, table_problems = _table_problems(record)
    try:
        typed = check_record(record)
    except SchemaError as exc:
        assert sorted((e.field, e.value, e.error) for e in exc.errors) == sorted(table_problems)
        return
    assert table_problems == []
    row = result.frame.iloc[0]
    for name, value in typed.items():
        expected = row[name]
        if isinstance(value, float) and math.isnan(value):
            assert pd.isna(expected), name
        elif isinstance(value, float):
            # The table path reads numbers back from text; allow the last bit of a double.
            assert value == pytest.approx(expected, rel=1e-12, abs=0), name
        else:
            assert value == expected, name
    for landmark in ("infusion", "day28"):
        fast = np.asarray(encode_record(typed, landmark))
        slow = encode(result.frame, landmark).to_numpy()[0]
        assert len(fast) == len(feature_names(landmark))
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("given, typed", [(2.0000000001, 2.0), ("3.0", 3.0), (-1e-300, 0.0)])
def test_integers_within_tolerance_are_stored_as_the_integer(given, typed):
    record = {"ecog": given}
    assert check_record(record)["ecog"] == typed
    assert (
        validate_frame(pd.DataFrame({"ecog": [given]}), nan_is_missing=True).frame["ecog"].iloc[0]
        == typed
    )
