"""Model tests: the trained models behave as the evidence says they should."""

import pandas as pd
import pytest

from features.validate import validate_record
from model_registry.scoring import ScoringModel

BASE = {
    "age_years": 58,
    "ecog": 1,
    "stage": 3,
    "extranodal_sites": 1,
    "ldh_u_l": 240,
    "ldh_uln_u_l": 250,
    "tmtv_ml": 40,
    "tp53_status": "wild_type",
    "prior_lines": 2,
    "bridging_therapy": "none",
}


def _risk12(model, **change):
    row = validate_record({**BASE, **change}).to_frame().T
    return float(model.score(row, landmark="infusion").risk_12m.iloc[0])


@pytest.fixture(scope="module")
def model(trained):
    registry, _, _ = trained
    return ScoringModel(registry.load())


@pytest.mark.parametrize(
    "change",
    [
        {"prior_lines": 5},
        {"bridging_therapy": "chemotherapy"},
        {"ldh_u_l": 700},
        {"tmtv_ml": 600},
        {"tp53_status": "altered"},
    ],
)
def test_risk_rises_with_a_higher_risk_predictor(model, change):
    assert _risk12(model, **change) > _risk12(model) + 0.01


def test_day28_biomarkers_move_risk_the_published_way(model):
    row = lambda **kw: validate_record({**BASE, **kw}).to_frame().T  # noqa: E731
    score = lambda r: float(model.score(r).risk_12m.iloc[0])  # noqa: E731
    assert score(row(ctdna_d28="detectable")) > score(row(ctdna_d28="undetectable")) + 0.05
    assert score(row(cart_cmax_per_ul=2.0)) > score(row(cart_cmax_per_ul=40.0)) + 0.02


def test_identifier_does_not_change_risk(model):
    a = validate_record({**BASE, "patient_id": "A"}).to_frame().T
    b = validate_record({**BASE, "patient_id": "ZZZ-999"}).to_frame().T
    pd.testing.assert_series_equal(
        model.score(a).risk_12m.reset_index(drop=True),
        model.score(b).risk_12m.reset_index(drop=True),
    )
