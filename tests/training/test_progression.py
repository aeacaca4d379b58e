"""The progression landmark's model: OS from progression, against PC-PI on the same held-out
patients; exported, registered and scored; versions without it still score and say so."""

import dataclasses

import numpy as np
import pytest

from features.validate import check_record, validate_frame
from model_registry.scoring import NoProgressionModel, ScoringModel
from synthetic.generator import canonical, simulate
from training.export.onnx_export import check_parity, to_onnx
from training.progression import PROGRESSION_HORIZONS_MONTHS, fit_progression, progression_cohort

AT_PROGRESSION = {
    "progression_months": 2.5,
    "ecog_at_progression": 2,
    "ldh_at_progression_u_l": 700,
    "ldh_uln_at_progression_u_l": 250,
    "haemoglobin_at_progression_g_dl": 9.1,
    "extranodal_sites_at_progression": 3,
    "cd19_at_progression": "positive",
    "age_years": 66,
}


@pytest.fixture(scope="module")
def progression_fit():
    # 12,000 infused give about 6,200 progressions, 1,240 held out, about 900 with all five
    # PC-PI factors known: the paired bootstrap interval of the C difference is about
    # +-0.015 wide, and PC-PI's own C about +-0.02.
    frame = validate_frame(canonical(simulate(12000, 11)), nan_is_missing=True).frame
    return frame, fit_progression(frame, seed=0)


def test_outcome_is_os_from_progression_for_progressions_only():
    frame = validate_frame(canonical(simulate(600, 2)), nan_is_missing=True).frame
    part, time, event = progression_cohort(frame)
    assert (part["pfs_event_type"] == "progression").all()
    np.testing.assert_allclose(
        time, np.maximum(part["os_months"] - part["pfs_months"], 0.1 / 30.4375)
    )
    assert (event == part["os_event"]).all()


def test_model_beats_pcpi_and_pcpi_is_within_its_published_interval(progression_fit):
    _, fit = progression_fit
    cmp = fit.comparison
    assert cmp["model_minus_pcpi"]["ci95"][0] > 0.02, cmp["model_minus_pcpi"]
    # Published 0.79 (0.76-0.82); on ~900 held-out patients PC-PI's own C has a 95% interval
    # of about +-0.017, so its interval must meet the published one (calibrate checks the
    # point estimate on 7,500 progressions).
    low, high = cmp["pcpi"]["ci95"]
    assert high >= 0.76 and low <= 0.82, cmp["pcpi"]
    assert cmp["n_test_pcpi_known"] > 500


def test_model_is_calibrated_in_the_large_and_orders_the_fifths(progression_fit):
    _, fit = progression_fit
    calibration = fit.comparison["calibration"]["6m"]["model"]
    # ~900 patients: the Kaplan-Meier 6-month death risk has an SE of about 0.017; the
    # anchored baseline makes the mean prediction match it (a 0.04 miss is over 2 SEs).
    assert abs(calibration["predicted_overall"] - calibration["observed_overall"]) < 0.04
    observed = [g["observed"] for g in calibration["groups"]]
    assert observed == sorted(observed)  # each fifth of predicted risk dies more
    # Known limit (docs/progression.md): proportional hazards over-predict the lowest fifth.


def test_export_matches_the_fitted_model_at_three_six_and_twelve_months(progression_fit):
    _, fit = progression_fit
    model = fit.models[fit.champion]
    assert np.allclose(
        model.predict_risk(fit.X_test[:5]),
        1 - model.predict_survival(fit.X_test[:5], PROGRESSION_HORIZONS_MONTHS),
    )
    assert check_parity(model, to_onnx(model), fit.X_test) < 1e-5


def test_a_progressing_patient_scores_and_an_older_version_says_it_cannot(trained):
    registry, version, _ = trained
    loaded = registry.load(version)
    model = ScoringModel(loaded)
    record = check_record(AT_PROGRESSION)
    out = model.score_record(record)
    assert out["landmark"] == "progression"
    assert 0 < out["death_3m"] < out["death_6m"] < out["death_12m"] < 1
    assert out["pcpi"]["group"] == "high" and out["risk_6m"] is None
    assert set(out["contributions"]) >= {"ecog_at_progression", "ldh_at_progression_u_l"}
    # a worse LDH at progression raises the risk (model behaviour)
    better = model.score_record(check_record({**AT_PROGRESSION, "ldh_at_progression_u_l": 200}))
    assert better["death_6m"] < out["death_6m"]
    # the table path gives the same risk
    frame = validate_frame(__import__("pandas").DataFrame([AT_PROGRESSION])).frame
    row = model.score(frame).iloc[0]
    assert row["death_6m"] == pytest.approx(out["death_6m"], abs=1e-6)
    assert row["pcpi_group"] == "high"
    # a version trained before the progression landmark: no "progression" in its metadata
    old = dataclasses.replace(
        loaded, metadata={k: v for k, v in loaded.metadata.items() if k != "progression"}
    )
    legacy = ScoringModel(old)
    assert "before the progression landmark" in legacy.progression_absent
    with pytest.raises(NoProgressionModel, match="cannot score at progression"):
        legacy.score_record(record, landmark="progression")
    assert legacy.score_record(record)["landmark"] == "infusion"  # auto: its PFS landmark
