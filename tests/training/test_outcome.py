"""The two-cause outcome model: the integration, the mixture-cure model against lifelines and
known parameters, dynamic prediction against Aalen-Johansen, and the ONNX graph."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from features.encode import encode
from model_registry.curves import value_at
from training.cohort import landmark_mask
from training.evaluation.evaluate import evaluation_cohort
from training.export.onnx_export import check_outcome_parity, outcome_to_onnx, session
from training.metrics import aalen_johansen, cause_codes
from training.outcome import (
    GRID_MONTHS,
    GRID_STEP_MONTHS,
    MixtureCure,
    TwoCauseModel,
    cumulative_incidences,
    relapse_family,
)


def test_the_integration_is_exact_for_constant_hazards():
    """CIF_k(t) = h_k / (h_r + h_n) (1 - exp(-(h_r + h_n) t)) for constant hazards; the grid
    integration is exact for piecewise-constant hazards, so to rounding."""
    h_relapse, h_nrm = np.array([[0.08], [0.01]]), np.array([[0.004], [0.02]])
    out = cumulative_incidences(h_relapse * GRID_MONTHS, h_nrm * GRID_MONTHS)
    total = h_relapse + h_nrm
    for cause, h in (("relapse", h_relapse), ("nrm", h_nrm)):
        exact = h / total * -np.expm1(-total * GRID_MONTHS)
        assert np.max(np.abs(out[cause] - exact)) < 1e-12
    assert np.allclose(out["relapse"] + out["nrm"], 1 - out["event_free"], atol=1e-14)


def _cure_data(n, rng, coef=(0.8, -0.5), latency=(0.4, 0.3), intercept=-0.2):
    x = rng.normal(size=(n, 2))
    uncured = rng.random(n) < expit(intercept + x @ np.asarray(coef))
    # Weibull latency, shape 1.3, scale 6 months, proportional hazards in x.
    t = 6.0 * (-np.log(rng.random(n)) * np.exp(-x @ np.asarray(latency))) ** (1 / 1.3)
    t = np.where(uncured, t, np.inf)
    follow = rng.uniform(24, 60, n)
    return (pd.DataFrame(x, columns=["a", "b"]), np.minimum(t, follow), (t <= follow).astype(float))


def test_the_cure_fraction_matches_lifelines_mixture_cure_fitter():
    """Without covariates the incidence part is the cure fraction; lifelines' parametric
    mixture-cure fitter (Weibull latency, the true family here) is the reference. Both are
    consistent, so they differ by much less than lifelines' own SE; 3 SEs allows for the
    semi-parametric latency's extra variance."""
    from lifelines import MixtureCureFitter, WeibullFitter

    rng = np.random.default_rng(7)
    X, t, e = _cure_data(4000, rng, coef=(0.0, 0.0), latency=(0.0, 0.0))
    ours = MixtureCure(alpha_incidence=1e-6, alpha_latency=1e-6).fit(X, t, e)
    reference = MixtureCureFitter(base_fitter=WeibullFitter()).fit(t, e)
    cured = float(reference.cured_fraction_)
    se = float(reference.summary.loc["cured_fraction_", "se(coef)"])
    assert ours.converged_
    assert abs(float(ours.cure_probability(X.iloc[:1])[0]) - cured) < 3 * se


def test_the_mixture_cure_model_recovers_known_effects():
    """20,000 patients, about 55% uncured: the incidence coefficients' SEs are about 0.02 and
    the latency's about 0.015 (inverse information at these sizes), so 0.08 is 4 SEs or more.
    Coefficients are per SD of x (here SD 1), the ridge penalty negligible at this size."""
    rng = np.random.default_rng(11)
    X, t, e = _cure_data(20000, rng)
    model = MixtureCure().fit(X, t, e)
    assert model.converged_
    scale = model.scale_
    assert np.allclose(model.uncured_coef_ / scale, [0.8, -0.5], atol=0.08)
    assert np.allclose(model.latency_coef_ / scale, [0.4, 0.3], atol=0.08)
    assert (
        abs(model.uncured_intercept_ - (-0.2 + model.uncured_coef_ @ (model.mean_ / scale))) < 0.08
    )
    # The plateau: past the last event the relapse-free survival is the cure probability.
    tail = model.cumulative_hazard(X.iloc[:5], [model.tail_months_ + 1])[:, 0]
    assert np.allclose(np.exp(-tail), model.cure_probability(X.iloc[:5]))


@pytest.fixture(scope="module")
def cohort():
    return evaluation_cohort(8000, 61)


@pytest.fixture(scope="module")
def fitted(cohort):
    out = {}
    for lm in ("infusion", "day28"):
        part = cohort.loc[landmark_mask(cohort, lm)]
        X = encode(part, lm)
        for family in ("cox_ridge", "cure"):
            out[lm, family] = TwoCauseModel.fit(
                relapse_family(family),
                X,
                part["pfs_months"].to_numpy(float),
                part["pfs_event"].to_numpy(float),
                part["pfs_event_type"].to_numpy(object),
            )
    return out


@pytest.mark.parametrize("landmark", ["infusion", "day28"])
@pytest.mark.parametrize("family", ["cox_ridge", "xgb_cox", "ridge_xgb", "cure"])
def test_the_graph_reproduces_every_output(cohort, fitted, landmark, family):
    part = cohort.loc[landmark_mask(cohort, landmark)]
    X = encode(part, landmark)
    model = fitted.get((landmark, family)) or TwoCauseModel.fit(
        relapse_family(family),
        X.iloc[:3000],
        part["pfs_months"].to_numpy(float)[:3000],
        part["pfs_event"].to_numpy(float)[:3000],
        part["pfs_event_type"].to_numpy(object)[:3000],
    )
    proto = outcome_to_onnx(model)
    assert check_outcome_parity(model, proto, X) <= 1e-5
    out = dict(
        zip(
            ["risk", "relapse", "nrm", "nrm_curve"],
            session(proto).run(
                ["risk", "relapse", "nrm", "nrm_curve"], {"features": X.to_numpy(np.float32)}
            ),
        )
    )
    assert np.allclose(out["relapse"] + out["nrm"], out["risk"], atol=1e-6)
    # No patient's total below what their NRM hazard alone implies.
    nrm_alone = -np.expm1(-model.nrm.cumulative_hazard(X, [6.0, 12.0, 24.0]))
    assert np.all(out["risk"] >= nrm_alone - 1e-6)


@pytest.mark.parametrize("landmark", ["infusion", "day28"])
@pytest.mark.parametrize("since", [6.0, 12.0])
def test_risks_for_patients_still_in_remission_match_aalen_johansen(
    cohort, fitted, landmark, since
):
    """Among fresh patients event-free at `since`, the mean predicted incidence of each cause
    over the next 6 and 12 months against Aalen-Johansen from `since` (times shifted).

    Tolerance: 3 SEs of the difference. Aalen-Johansen gives the fresh sample's SE; the
    model's own estimate of the same mean carries the sampling error of its training
    patients at risk at `since`, approximated by that SE scaled to their number, so the SE of
    the difference is se * sqrt(1 + n_fresh / n_train). (On 30,000 training and 30,000
    fresh patients every |z| of the cox_ridge family was <= 2.1 by AJ's SE alone.)"""
    fresh = evaluation_cohort(12000, 62)
    part = fresh.loc[landmark_mask(fresh, landmark)]
    still = part.loc[part["pfs_months"] > since]
    trained_on = cohort.loc[landmark_mask(cohort, landmark)]
    at_risk = int((trained_on["pfs_months"] > since).sum())
    model = fitted[landmark, "cure"]
    X = encode(still, landmark)
    dynamic = model.conditional(X, np.full(len(still), since))
    codes = cause_codes(still["pfs_event"].to_numpy(), still["pfs_event_type"].to_numpy(object))
    horizons = (6.0, 12.0)
    for code, cause in ((1, "relapse"), (2, "nrm")):
        observed, se = aalen_johansen(
            still["pfs_months"].to_numpy(float) - since, codes, code, horizons
        )
        for h, o, s in zip(horizons, observed, se):
            predicted = dynamic[f"{cause}_next_{int(h)}m"].mean()
            tolerance = 3 * s * np.sqrt(1 + len(still) / at_risk)
            assert abs(predicted - o) <= tolerance, (cause, h, predicted, o, s)
    cure_now = dynamic["cure_probability_given_event_free"]
    assert np.all(cure_now >= model.cure_probability(X) - 1e-12)  # remission is good news
    # The longer in remission, the lower the risk ahead (on average over these patients).
    later = model.conditional(X, np.full(len(still), since + 6))
    assert later["risk_next_12m"].mean() < dynamic["risk_next_12m"].mean()


def test_dynamic_prediction_at_the_landmark_is_the_unconditional_risk(fitted, cohort):
    part = cohort.loc[landmark_mask(cohort, "infusion")].iloc[:200]
    model = fitted["infusion", "cure"]
    X = encode(part, "infusion")
    at_zero = model.conditional(X, np.zeros(len(part)))
    causes = model.predict_causes(X)
    assert np.allclose(at_zero["risk_next_6m"], causes["risk"][:, 0], atol=1e-12)
    assert np.allclose(at_zero["relapse_next_12m"], causes["relapse"][:, 1], atol=1e-12)
    assert np.allclose(
        at_zero["cure_probability_given_event_free"], model.cure_probability(X), atol=1e-12
    )
    # Between grid points the curves are interpolated linearly: s = 6.1 is 0.4 of the way
    # from 6 to 6.25.
    curves = model.curves(X)
    i = int(round(6.0 / GRID_STEP_MONTHS))
    expected = 0.6 * curves["event_free"][:, i] + 0.4 * curves["event_free"][:, i + 1]
    assert np.allclose(
        value_at(curves["event_free"], np.full(len(part), 6.1), GRID_STEP_MONTHS),
        expected,
        atol=1e-12,
    )
