import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from training.models import HORIZONS_MONTHS, CoxRidge, XGBCox


@pytest.fixture(scope="module")
def exponential_data():
    """Exponential times with known log-hazard 0.7*x1 - 0.4*x2, independent censoring."""
    rng = np.random.default_rng(8)
    n = 4000
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.binomial(1, 0.4, n).astype(float),
            "constant": np.ones(n),
        }
    )
    rate = 0.05 * np.exp(0.7 * X.x1 - 0.4 * X.x2)
    t_event = rng.exponential(1 / rate)
    t_cens = rng.uniform(5, 40, n)
    return X, np.minimum(t_event, t_cens), (t_event <= t_cens).astype(float)


def test_cox_matches_lifelines(exponential_data):
    """Independent reference: lifelines' unpenalised Cox fit and its survival predictions."""
    X, t, e = exponential_data
    ours = CoxRidge(alpha=1e-8).fit(X, t, e)
    ref = CoxPHFitter().fit(X[["x1", "x2"]].assign(t=t, e=e), "t", "e")
    np.testing.assert_allclose(ours.coef_[:2] / ours.scale_[:2], ref.params_.values, atol=2e-3)
    assert ours.coef_[2] == 0.0  # the constant column carries nothing
    ours_surv = ours.predict_survival(X.iloc[:50], [12.0])[:, 0]
    ref_surv = ref.predict_survival_function(X[["x1", "x2"]].iloc[:50], times=[12.0]).to_numpy()[0]
    np.testing.assert_allclose(ours_surv, ref_surv, atol=3e-3)


def test_cox_recovers_the_true_effects(exponential_data):
    X, t, e = exponential_data
    m = CoxRidge(alpha=1e-8).fit(X, t, e)
    # SE of each log-HR at ~2,500 events is about 0.02-0.05; allow 4 SE.
    np.testing.assert_allclose(m.coef_[:2] / m.scale_[:2], [0.7, -0.4], atol=0.15)


@pytest.mark.parametrize("family", [CoxRidge(), XGBCox(n_estimators=100)])
def test_risk_is_a_probability_rising_with_horizon_and_hazard(exponential_data, family):
    X, t, e = exponential_data
    m = family.fit(X, t, e)
    risk = m.predict_risk(X)
    assert risk.shape == (len(X), len(HORIZONS_MONTHS))
    assert ((risk >= 0) & (risk <= 1)).all()
    assert (np.diff(risk, axis=1) >= 0).all()
    low, high = X.iloc[[0]].assign(x1=-1.5), X.iloc[[0]].assign(x1=1.5)
    assert (m.predict_risk(high) > m.predict_risk(low)).all()


def test_contributions_sum_to_the_linear_predictor(exponential_data):
    X, t, e = exponential_data
    for m in (CoxRidge().fit(X, t, e), XGBCox(n_estimators=50).fit(X, t, e)):
        lp = m.linear_predictor(X.iloc[:20])
        contrib = m.contributions(X.iloc[:20])
        if isinstance(m, CoxRidge):
            np.testing.assert_allclose(contrib.sum(axis=1), lp, atol=1e-10)
        else:  # TreeSHAP adds the bias term the contributions leave out
            spread = contrib.sum(axis=1) - lp
            assert np.ptp(spread) < 1e-4


def test_censoring_is_used_not_dropped(exponential_data):
    """Dropping censored patients inflates risk; the fitted models must not."""
    X, t, e = exponential_data
    m = CoxRidge().fit(X, t, e)
    true_risk12 = 1 - np.exp(-0.05 * np.exp(0.7 * X.x1 - 0.4 * X.x2) * 12)
    assert m.predict_risk(X)[:, 1].mean() == pytest.approx(true_risk12.mean(), abs=0.02)
