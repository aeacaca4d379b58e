"""The fields at progression: ranges, contradictions with the outcomes (per row and field, on
the table and the record path alike), derivation from the PFS columns, unit conversion."""

import math

import numpy as np
import pandas as pd
import pytest

from features import pcpi
from features.encode import choose_record_landmark, encode, encode_record, feature_names
from features.errors import SchemaError
from features.mapping import apply_mapping, parse_mapping
from features.schema import PROGRESSION
from features.validate import check_record, validate_frame

PROGRESSED = {
    "pfs_months": 3.5,
    "pfs_event": 1,
    "pfs_event_type": "progression",
    "os_months": 9.0,
    "os_event": 1,
}
AT_PROGRESSION = {
    "ecog_at_progression": 1,
    "ldh_at_progression_u_l": 520,
    "ldh_uln_at_progression_u_l": 250,
    "haemoglobin_at_progression_g_dl": 9.4,
    "extranodal_sites_at_progression": 2,
    "cd19_at_progression": "low",
}

CONTRADICTIONS = [
    # a censored patient has no progression to assess fields at
    (
        {"pfs_months": 12.0, "pfs_event": 0, "os_months": 12.0, "os_event": 0},
        "ecog_at_progression",
        "record no progression",
    ),
    # death without progression
    (
        {
            "pfs_months": 2.0,
            "pfs_event": 1,
            "pfs_event_type": "death",
            "os_months": 2.0,
            "os_event": 1,
        },
        "cd19_at_progression",
        "record no progression",
    ),
    # a time to progression other than the PFS event's
    ({**PROGRESSED, "progression_months": 5.0}, "progression_months", "must equal pfs_months"),
    # a progression after death (no PFS event type recorded)
    (
        {"os_months": 4.0, "os_event": 1, "progression_months": 6.0},
        "progression_months",
        "after os_months",
    ),
]


@pytest.mark.parametrize("outcomes, field, message", CONTRADICTIONS)
def test_a_contradiction_names_row_and_field_on_both_paths(outcomes, field, message):
    record = {"age_years": 61, **AT_PROGRESSION, **outcomes}
    if "progression_months" in outcomes:
        record = {"age_years": 61, **outcomes}
    frame = pd.DataFrame([PROGRESSED | {"age_years": 50}, record])
    result = validate_frame(frame, nan_is_missing=True)  # NaN: the keys a row lacks
    errors = result.errors
    assert list(errors.row.unique()) == [2], errors  # the first data row is row 1
    assert field in set(errors.field)
    assert errors.error.str.contains(message).all()
    assert result.n_valid == 1
    with pytest.raises(SchemaError, match=message) as caught:
        check_record(record, allow_outcomes=True)
    assert field in {e.field for e in caught.value.errors}


def test_progression_months_comes_from_the_pfs_columns():
    frame = pd.DataFrame([{**PROGRESSED, **AT_PROGRESSION}])
    typed = validate_frame(frame).frame
    assert typed["progression_months"].iloc[0] == 3.5
    assert (
        check_record({**PROGRESSED, **AT_PROGRESSION}, allow_outcomes=True)["progression_months"]
        == 3.5
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("haemoglobin_at_progression_g_dl", 25),
        ("ecog_at_progression", 5),
        ("cd19_at_progression", "dim"),
        ("extranodal_sites_at_progression", -1),
    ],
)
def test_out_of_range_values_at_progression_are_rejected(field, value):
    with pytest.raises(SchemaError, match=field):
        check_record({field: value})


def test_ldh_at_progression_needs_its_upper_limit():
    with pytest.raises(SchemaError, match="ldh_uln_at_progression_u_l"):
        check_record({"ldh_at_progression_u_l": 400})


@pytest.mark.parametrize(
    "unit, cell, g_dl", [("g/L", "94", 9.4), ("mmol/L", "5.8", 9.346), ("g/dL", "9.4", 9.4)]
)
def test_haemoglobin_units_convert_to_g_per_dl(unit, cell, g_dl):
    # mmol/L counts the haem monomer (16,114.5 g/mol): 5.8 mmol/L x 1.61145 = 9.346 g/dL
    mapping = parse_mapping(
        {
            "columns": {"haemoglobin_at_progression_g_dl": "Hb"},
            "units": {"haemoglobin_at_progression_g_dl": unit},
        }
    )
    mapped = apply_mapping(pd.DataFrame({"Hb": [cell]}), mapping)
    assert mapped.frame["haemoglobin_at_progression_g_dl"].iloc[0] == pytest.approx(g_dl, abs=1e-3)


def test_a_field_at_progression_chooses_the_progression_landmark():
    record = check_record({"progression_months": 2.0, **AT_PROGRESSION})
    assert choose_record_landmark(record) == PROGRESSION
    assert choose_record_landmark(check_record({"age_years": 60})) == "infusion"


def test_record_encoding_equals_table_encoding_at_progression():
    records = [
        {"progression_months": 2.0, **AT_PROGRESSION, "age_years": 70, "prior_lines": 3},
        {"cd19_at_progression": "negative"},
        {},
    ]
    typed = [check_record(r) for r in records]
    table = encode(validate_frame(pd.DataFrame(records), nan_is_missing=True).frame, PROGRESSION)
    assert list(table.columns) == feature_names(PROGRESSION)
    np.testing.assert_allclose(
        np.array([encode_record(t, PROGRESSION) for t in typed]), table.to_numpy(), atol=1e-12
    )


def test_pcpi_counts_the_five_factors_and_never_guesses():
    full = check_record({"progression_months": 2.0, **AT_PROGRESSION})
    # ECOG 1 > 0, Hb 9.4 < 10, LDH 520 >= 2 x 250, 2 sites > 1, 2 months < 4: five factors
    assert pcpi.score_record(full)["points"] == 5
    assert pcpi.score_record(full)["group"] == "high"
    calm = dict(
        full,
        ecog_at_progression=0.0,
        haemoglobin_at_progression_g_dl=12.0,
        ldh_at_progression_u_l=499.0,
        extranodal_sites_at_progression=1.0,
        progression_months=4.0,
    )
    assert pcpi.score_record(calm)["points"] == 0
    partial = pcpi.score_record(dict(full, haemoglobin_at_progression_g_dl=math.nan))
    assert partial["points"] is None and partial["unknown_factors"] == ["haemoglobin_below_10"]
