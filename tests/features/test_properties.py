"""Property-based tests of the feature layer: it never fails with anything but its own error,
and it accounts for every row; encoding is total and deterministic on what it accepts."""

import math
import os

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.encode import encode_record, feature_names
from features.errors import SchemaError
from features.schema import COLUMNS
from features.validate import check_record, validate_frame

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", 300))
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "0x1F", "٣", "1,5", "altered", "CR"]),
)
KEYS = st.one_of(st.sampled_from(COLUMNS), st.text(min_size=1, max_size=10))
CONFIG = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@CONFIG
@given(st.dictionaries(KEYS, JUNK, max_size=8))
def test_record_validation_raises_only_its_own_error(record):
    try:
        typed = check_record(record)
    except SchemaError as exc:
        assert exc.errors and all(e.field for e in exc.errors)
        return
    for landmark in ("infusion", "day28"):
        first, second = encode_record(typed, landmark), encode_record(typed, landmark)
        assert first == second and len(first) == len(feature_names(landmark))
        assert all(math.isfinite(x) for x in first)


@CONFIG
@given(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6, unique=True), st.data())
def test_table_validation_accounts_for_every_row(columns, data):
    n = data.draw(st.integers(1, 6))
    rows = [{c: data.draw(JUNK) for c in columns} for _ in range(n)]
    try:
        result = validate_frame(pd.DataFrame(rows, columns=columns, dtype=object))
    except SchemaError as exc:  # only table-level problems may be raised
        assert all(e.row is None for e in exc.errors)
        return
    rejected = set(result.errors["row"].dropna().astype(int))
    assert len(rejected) + result.n_valid == n
    assert rejected.isdisjoint({i + 1 for i in result.frame.index})
