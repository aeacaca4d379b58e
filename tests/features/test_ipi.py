import numpy as np
import pandas as pd
import pytest

from features.validate import validate_frame, validate_record

# Hand-computed from the IPI definition: age > 60, stage III-IV, ECOG >= 2, LDH > ULN,
# extranodal sites > 1; aaIPI uses stage, ECOG and LDH.
CASES = [
    # age, stage, ecog, ldh, uln, extranodal, ipi, aaipi
    (60, 2, 1, 250, 250, 1, 0, 0),
    (61, 2, 1, 250, 250, 1, 1, 0),
    (45, 3, 1, 251, 250, 1, 2, 2),
    (70, 4, 2, 600, 250, 2, 5, 3),
    (30, 1, 3, 100, 200, 5, 2, 1),
]


@pytest.mark.parametrize("age,stage,ecog,ldh,uln,en,ipi,aaipi", CASES)
def test_derived_from_components(age, stage, ecog, ldh, uln, en, ipi, aaipi):
    row = validate_record(
        {
            "age_years": age,
            "stage": stage,
            "ecog": ecog,
            "ldh_u_l": ldh,
            "ldh_uln_u_l": uln,
            "extranodal_sites": en,
        }
    )
    assert (row["ipi"], row["aaipi"]) == (ipi, aaipi)
    checked = validate_record(
        {
            "age_years": age,
            "stage": stage,
            "ecog": ecog,
            "ldh_u_l": ldh,
            "ldh_uln_u_l": uln,
            "extranodal_sites": en,
            "ipi": ipi,
            "aaipi": aaipi,
        }
    )
    assert checked["ipi"] == ipi


def test_unknown_component_leaves_index_unknown_unless_given():
    row = validate_record({"age_years": 70, "stage": 4, "ecog": 2, "extranodal_sites": 3})
    assert np.isnan(row["ipi"]) and np.isnan(row["aaipi"])
    row = validate_record({"age_years": 70, "stage": 4, "ecog": 2, "extranodal_sites": 3, "ipi": 5})
    assert row["ipi"] == 5


def test_vectorised_derivation_matches_row_by_row():
    table = pd.DataFrame(
        [
            {
                "age_years": a,
                "stage": s,
                "ecog": e,
                "ldh_u_l": ldh,
                "ldh_uln_u_l": u,
                "extranodal_sites": x,
            }
            for a, s, e, ldh, u, x, *_ in CASES
        ],
        dtype=object,
    )
    result = validate_frame(table)
    assert list(result.frame.ipi) == [c[6] for c in CASES]
    assert list(result.frame.aaipi) == [c[7] for c in CASES]
