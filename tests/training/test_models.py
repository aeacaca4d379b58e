import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from training.models import HORIZONS_MONTHS, CoxRidge, RidgeXGB, XGBCox, ridge_cox_coefficients


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


@pytest.mark.parametrize("alpha", [1.0, 30.0, 1000.0])
def test_ridge_fit_equals_scikit_survival_with_ties(alpha):
    """The vectorised Newton fit is scikit-survival's ridge Cox estimator (Breslow ties):
    times rounded to whole months (hundreds of ties), eight correlated predictors, one of them
    a rare indicator."""
    from sklearn.exceptions import ConvergenceWarning
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    rng = np.random.default_rng(4)
    n = 600
    z = rng.normal(size=(n, 8)) @ rng.normal(scale=0.5, size=(8, 8))
    z[:, 7] = rng.binomial(1, 0.03, n)
    t_event = rng.exponential(10 / np.exp(z @ np.linspace(-0.6, 0.6, 8)))
    t = np.ceil(np.minimum(t_event, rng.uniform(3, 30, n)))
    e = (t_event <= t).astype(float)
    assert len(np.unique(t[e == 1])) < e.sum() / 5
    reference = CoxPHSurvivalAnalysis(alpha=alpha, ties="breslow").fit(
        z, Surv.from_arrays(e == 1, t)
    )
    np.testing.assert_allclose(ridge_cox_coefficients(z, t, e, alpha), reference.coef_, atol=1e-7)
    with pytest.warns(ConvergenceWarning):
        ridge_cox_coefficients(z, t, e, alpha, max_iter=1)
    with pytest.raises(ValueError, match="every patient is censored"):
        ridge_cox_coefficients(z, t, np.zeros(n), alpha)


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


def _linear_index_data(n: int, seed: int):
    """Exponential times whose log hazard is a linear index of twelve predictors (half
    binary), the shape of the generator's relapse risk."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            **{f"c{j}": rng.normal(size=n) for j in range(6)},
            **{f"b{j}": rng.binomial(1, 0.4, n).astype(float) for j in range(6)},
        }
    )
    index = X.to_numpy() @ np.linspace(0.15, 0.45, 12)
    t_event = rng.exponential(1 / (0.05 * np.exp(index)))
    t_cens = rng.uniform(5, 40, n)
    return X, np.minimum(t_event, t_cens), (t_event <= t_cens).astype(float), index


def test_trees_boosted_from_the_ridge_index_track_a_linear_truth_better_than_trees_alone():
    """The reason for `RidgeXGB`: trees approximate a linear index of many predictors with
    many steps. Judged on 20,000 fresh patients (where the sampling error of 1 - r^2 is near
    0.001), the boosted model's unexplained share of the true index was 0.69 to 0.80 of the
    trees' over five training samples of 4,000; 0.9 leaves room for a sixth."""
    X, t, e, _ = _linear_index_data(4000, 21)
    Xf, _, _, truth = _linear_index_data(20000, 22)
    boosted = RidgeXGB().fit(X, t, e).linear_predictor(Xf)
    trees = XGBCox().fit(X, t, e).linear_predictor(Xf)
    unexplained = {
        name: 1 - np.corrcoef(lp, truth)[0, 1] ** 2
        for name, lp in (("boosted", boosted), ("trees", trees))
    }
    assert unexplained["boosted"] < 0.9 * unexplained["trees"], unexplained


def test_boosted_contributions_add_up_to_the_log_hazard():
    X, t, e, _ = _linear_index_data(3000, 23)
    model = RidgeXGB(n_estimators=100).fit(X, t, e)
    contributions = model.contributions(X.iloc[:500])
    assert contributions.shape == (500, 12)
    # The log hazard less the sum of contributions is one constant (the trees' expected
    # margin), as for XGBoost's own Saabas attribution.
    rest = model.linear_predictor(X.iloc[:500]) - contributions.sum(axis=1)
    assert np.ptp(rest) < 1e-4
    # The ridge part alone is exact: setting the trees aside leaves coefficient x value.
    np.testing.assert_allclose(
        model.index(X.iloc[:500]), model.ridge_.linear_predictor(X.iloc[:500]), atol=1e-5
    )
