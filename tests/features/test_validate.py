import math

import numpy as np
import pandas as pd
import pytest

from features.errors import SchemaError
from features.schema import COLUMNS, FIELDS
from features.validate import validate_frame, validate_record

BAD_VALUES = [
    # (field, value as a CSV cell, value as JSON, error fragment)
    ("prior_lines", "three", "three", "must be an integer from 1 to 15"),
    ("prior_lines", "0", 0, "must be an integer from 1 to 15"),
    ("prior_lines", "2.5", 2.5, "must be an integer from 1 to 15"),
    ("ecog", "5", 5, "must be an integer from 0 to 4"),
    ("age_years", "-1", -1, "must be a number from 0 to 120 years"),
    ("age_years", "nan", float("nan"), "NaN and infinity are not allowed"),
    ("tmtv_ml", "inf", float("inf"), "NaN and infinity are not allowed"),
    ("tmtv_ml", "-Infinity", -math.inf, "NaN and infinity are not allowed"),
    ("tp53_status", "Altered", "Altered", "must be one of 'altered', 'wild_type'"),
    ("bridging_therapy", "car-t", "car-t", "must be one of 'none', 'chemotherapy'"),
    ("ctdna_d28", "positive", "positive", "must be one of 'detectable', 'undetectable'"),
    ("cart_cmax_per_ul", "1e9", 1e9, "must be a number from 0 to 100000"),
    ("stage", "IV", "IV", "must be an integer from 1 to 4"),
]


@pytest.mark.parametrize("field,cell,json_value,fragment", BAD_VALUES)
def test_table_names_row_field_value_and_reason(valid_record, field, cell, json_value, fragment):
    rows = [{**{k: str(v) for k, v in valid_record.items()}, field: ""} for _ in range(3)]
    rows[1][field] = cell
    result = validate_frame(pd.DataFrame(rows))
    assert result.n_rows == 3
    assert result.n_valid == 2
    assert list(result.frame.index) == [0, 2]
    err = result.errors.iloc[0]
    assert (err.row, err.field, err.value) == (2, field, cell)
    assert fragment in err.error


@pytest.mark.parametrize("field,cell,json_value,fragment", BAD_VALUES)
def test_record_uses_the_same_rules(valid_record, field, cell, json_value, fragment):
    record = dict(valid_record, **{field: json_value})
    with pytest.raises(SchemaError, match=field) as info:
        validate_record(record)
    (error,) = info.value.errors
    assert error.field == field and fragment in error.error and error.row is None


@pytest.mark.parametrize("value", [True, False, [1], {"a": 1}])
def test_record_rejects_non_numbers_even_when_python_would_coerce(valid_record, value):
    with pytest.raises(SchemaError, match="prior_lines"):
        validate_record(dict(valid_record, prior_lines=value))


def test_blank_and_null_mean_missing_not_error(valid_record):
    rows = pd.DataFrame([{k: str(v) for k, v in valid_record.items()}] * 2)
    rows.loc[0, ["tmtv_ml", "tp53_status", "ecog"]] = ["", "  ", ""]
    result = validate_frame(rows)
    assert result.n_valid == 2 and result.errors.empty
    assert np.isnan(result.frame.loc[0, "tmtv_ml"]) and result.frame.loc[0, "tp53_status"] is None
    validate_record(dict(valid_record, tmtv_ml=None, tp53_status=None))


def test_surrounding_whitespace_is_not_an_error(valid_record):
    rows = pd.DataFrame([{k: f" {v} " for k, v in valid_record.items()}])
    result = validate_frame(rows)
    assert result.errors.empty
    assert result.frame.iloc[0]["tp53_status"] == "wild_type"


def test_unknown_and_duplicate_columns_are_table_errors(valid_record):
    with pytest.raises(SchemaError, match="LDH: not a canonical field") as info:
        validate_frame(pd.DataFrame([{"LDH": "300", "age_years": "60"}]))
    assert info.value.errors[0].row is None
    dup = pd.DataFrame([["60", "61"]], columns=["age_years", "age_years"])
    with pytest.raises(SchemaError, match="appears more than once"):
        validate_frame(dup)
    with pytest.raises(SchemaError, match="foo: not a canonical field"):
        validate_record(dict(valid_record, foo=1))


def test_outcomes_can_be_forbidden_or_required(valid_record):
    with pytest.raises(SchemaError, match="outcome columns are not accepted"):
        validate_record(dict(valid_record, pfs_months=3, pfs_event=1))
    with pytest.raises(SchemaError, match="pfs_months: required outcome column is missing"):
        validate_frame(pd.DataFrame([{"age_years": "60"}]), require_outcomes=True)
    table = pd.DataFrame([{"age_years": "60", "pfs_months": "", "pfs_event": "1"}])
    result = validate_frame(table, require_outcomes=True)
    assert list(result.errors.field) == ["pfs_months"]


def test_ldh_without_its_upper_limit_is_an_error(valid_record):
    record = dict(valid_record, ldh_uln_u_l=None)
    with pytest.raises(SchemaError, match="ldh_uln_u_l: is required when ldh_u_l is given"):
        validate_record(record)


@pytest.mark.parametrize(
    "change,field,allowed",
    [
        ({"ipi": 3}, "ipi", "exactly 4"),
        ({"aaipi": 3}, "aaipi", "exactly 2"),
        ({"ipi": 1, "ecog": None}, "ipi", "4 to 5"),
    ],
)
def test_index_contradicting_its_components(valid_record, change, field, allowed):
    with pytest.raises(SchemaError, match=f"{field}: contradicts its components") as info:
        validate_record(dict(valid_record, **change))
    assert allowed in str(info.value)


def test_outcome_contradictions():
    table = pd.DataFrame(
        [
            {"pfs_months": "10", "pfs_event": "0", "os_months": "5", "os_event": "1"},
            {"pfs_months": "5", "pfs_event": "0", "os_months": "5", "os_event": "1"},
            {"pfs_months": "5", "pfs_event": "", "os_months": "", "os_event": ""},
            {"pfs_months": "5", "pfs_event": "1", "os_months": "9", "os_event": "0"},
        ]
    )
    result = validate_frame(table)
    assert result.error_list()[0].field == "os_months"
    assert [(e.row, e.field) for e in result.error_list()] == [
        (1, "os_months"),
        (2, "pfs_event"),
        (3, "pfs_event"),
    ]
    assert list(result.frame.index) == [3]


def test_every_row_is_accounted_for(rng):
    n = 500
    table = pd.DataFrame(
        {
            "age_years": rng.choice(["55", "x", "", "70", "200"], n),
            "prior_lines": rng.choice(["1", "2", "0", "", "2.5"], n),
            "tp53_status": rng.choice(["altered", "wild_type", "", "mutant"], n),
        }
    )
    result = validate_frame(table, first_row=101)
    rejected = set(result.errors.row.astype(int))
    assert len(rejected) + result.n_valid == n
    assert rejected.isdisjoint({i + 101 for i in result.frame.index})
    assert min(rejected) >= 101 and max(rejected) <= 100 + n


def test_numeric_frames_from_trusted_code(valid_record):
    frame = pd.DataFrame([valid_record, dict(valid_record, tmtv_ml=np.nan)])
    untrusted = validate_frame(frame)
    assert list(untrusted.errors.field) == ["tmtv_ml"]  # NaN from users is an error...
    assert validate_frame(frame, nan_is_missing=True).errors.empty  # ...unless trusted


def test_schema_lists_every_design_column():
    # DESIGN.md's table, plus event_free_months (the "still in remission" condition) and
    # the seven fields of the progression landmark
    assert len(COLUMNS) == len(set(COLUMNS)) == len(FIELDS) == 29
    for f in FIELDS:
        if f.role == "predictor":
            assert f.landmark in ("infusion", "day28", "progression") and f.evidence, f.name


@pytest.mark.parametrize("bad", ["1_000", "\u0661\u0662", "0x10", "1,5"])
def test_numbers_float_would_read_but_the_schema_does_not_are_errors(bad):
    """The fast numeric path (numpy's float conversion) must not accept what the slow one
    rejects: Python's float() reads '1_000' and non-Latin digits."""
    frame = pd.DataFrame({"tmtv_ml": ["12.5", bad, " 4 ", ""]})
    result = validate_frame(frame, nan_is_missing=True)
    assert [(e.row, e.field, e.value) for e in result.errors.itertuples()] == [(2, "tmtv_ml", bad)]
    assert list(result.frame["tmtv_ml"].loc[[0, 2]]) == [12.5, 4.0]


@pytest.mark.parametrize("value", [10**400, "1" + "0" * 400, "1e999", -(10**400)])
def test_numbers_beyond_float_range_are_out_of_range_not_a_crash(value):
    # A JSON integer too large for a float raised OverflowError (a 500 from the service).
    with pytest.raises(SchemaError, match="tmtv_ml: must be a number") as info:
        validate_record({"tmtv_ml": value})
    assert "NaN and infinity" not in str(info.value)
    table = validate_frame(
        pd.DataFrame({"tmtv_ml": pd.Series([value], dtype=object)}), allow_outcomes=False
    )
    assert table.n_valid == 0
    assert table.errors.error.tolist() == [info.value.errors[0].error]


def test_a_text_field_tells_a_float_nan_from_none_and_pd_na():
    """None and pd.NA are missing; a float NaN is an error unless the caller trusts NaN as
    missing (a column of pd.NA alone once raised instead of validating)."""
    for cells, errors in (
        ([pd.NA], 0),
        ([None, "x"], 0),
        ([pd.NA, "x"], 0),
        ([float("nan"), "x"], 1),
        ([float("nan")], 1),
    ):
        frame = pd.DataFrame({"patient_id": cells}, dtype=object)
        found = validate_frame(frame, allow_outcomes=False).error_list()
        assert len(found) == errors, (cells, found)
        assert all(e.error == "must be a string or an integer" for e in found)
        assert validate_frame(frame, allow_outcomes=False, nan_is_missing=True).error_list() == []
