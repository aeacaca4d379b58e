import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored

from training.metrics import (
    calibration_slope_intercept,
    evaluate,
    harrell_c,
    net_benefit,
    observed_risk,
)
from training.models import CoxRidge


@pytest.fixture(scope="module")
def known():
    rng = np.random.default_rng(2)
    n = 6000
    x = rng.normal(size=n)
    rate = 0.06 * np.exp(0.8 * x)
    t_event = rng.exponential(1 / rate)
    t_cens = rng.uniform(6, 36, n)
    t, e = np.minimum(t_event, t_cens), (t_event <= t_cens).astype(float)
    true_risk12 = 1 - np.exp(-rate * 12)
    return x, t, e, true_risk12


def test_true_risks_are_calibrated(known):
    """Known answer: the true 12-month risks have slope 1 and intercept 0 (within ~3 SE)."""
    _, t, e, risk = known
    slope, intercept = calibration_slope_intercept(risk, t, e)
    assert slope == pytest.approx(1.0, abs=0.12)
    assert intercept == pytest.approx(0.0, abs=0.1)
    # Over-confident risks on the scale calibration is read on (cloglog, that of
    # training.calibration): the log cumulative hazard doubled reads as slope 1/2.
    doubled = -np.expm1(-np.exp(2 * np.log(-np.log1p(-risk))))
    slope2, _ = calibration_slope_intercept(doubled, t, e)
    assert slope2 == pytest.approx(0.5, abs=0.06)


def test_harrell_c_agrees_with_scikit_survival(known):
    """lifelines' C (O(n log n), the one used) equals scikit-survival's pairwise count, also
    with times and risks tied (rounded): a tie in risk counts a half in both, and a censored
    patient whose time equals an event's is counted as outliving it in both."""
    import pandas as pd

    x, t, e, _ = known
    X = pd.DataFrame({"x": x})
    model = CoxRidge().fit(X, t, e)
    metrics = evaluate(model, X, t, e, t, e)
    lp = model.linear_predictor(X)
    reference = concordance_index_censored(e == 1, t, lp)[0]
    assert metrics["harrell_c"] == pytest.approx(reference, abs=1e-9)
    tied_t, tied_lp = np.round(t), np.round(lp, 1)
    assert len(np.unique(tied_t)) < len(t) / 100 and len(np.unique(tied_lp)) < 100
    assert harrell_c(tied_t, e, tied_lp) == pytest.approx(
        concordance_index_censored(e == 1, tied_t, tied_lp)[0], abs=1e-9
    )
    # Only 1 is an event (a code 2 is censored, as `event == 1` read it before).
    assert harrell_c(t, np.where(e == 1, 1.0, 2.0), lp) == pytest.approx(reference, abs=1e-9)
    assert 0.6 < metrics["uno_c"] < 0.8 and 0.6 < metrics["auc_12m"] < 0.85
    assert metrics["mean_predicted_12m"] == pytest.approx(metrics["observed_12m"], abs=0.02)


def test_observed_risk_is_lifelines_kaplan_meier_with_ties():
    """Times on a 0.5-month grid (events and censorings tied at the same times), horizons
    on a tied time, before the first and past the last; codes other than 1 are censored."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(7)
    t = np.round(rng.exponential(10, 400) * 2) / 2 + 0.5
    e = rng.choice([0.0, 1.0, 2.0], size=400, p=[0.35, 0.5, 0.15])
    km = KaplanMeierFitter().fit(t, e == 1)
    for h in (0.1, 3.0, 6.0, 12.0, float(t.max()), float(t.max()) + 5):
        expected = 1 - km.survival_function_at_times(h).iloc[0]
        assert observed_risk(t, e, h) == pytest.approx(expected, abs=1e-12), h
    assert observed_risk(t, np.zeros_like(e), 12.0) == 0.0


def test_net_benefit_of_flagging_everyone(known):
    _, t, e, risk = known
    nb = net_benefit(np.ones_like(risk), t, e, thresholds=(0.3,))
    p = observed_risk(t, e, 12.0)
    assert nb["model"][0] == pytest.approx(p - (1 - p) * 0.3 / 0.7)
    assert nb["treat_all"][0] == pytest.approx(nb["model"][0])
    assert net_benefit(np.zeros_like(risk), t, e, thresholds=(0.3,))["model"] == [0.0]


def test_integrated_brier_when_follow_up_starts_after_the_first_grid_month(trained):
    """A day-28 cohort whose first time is past 1 month (the grid's first point) used to
    make scikit-survival refuse the integrated Brier score."""
    from features.encode import encode
    from model_registry.scoring import ScoringModel
    from training.cohort import landmark_mask
    from training.evaluation.evaluate import evaluation_cohort

    registry, version, _ = trained
    model = ScoringModel(registry.load(version)).landmarks["day28"]
    frame = evaluation_cohort(1000, 5)
    part = frame.loc[landmark_mask(frame, "day28") & (frame["pfs_months"] > 1.2)]
    t, e = part["pfs_months"].to_numpy(float), part["pfs_event"].to_numpy(float)
    metrics = evaluate(model, encode(part, "day28"), t, e, t, e)
    assert 0 < metrics["integrated_brier"] < 0.25
