"""Survival models for PFS risk at fixed horizons, each with a Breslow baseline.

`CoxRidge` is the transparent model (a ridge Cox model on standardised features, fitted by
`ridge_cox_coefficients`);
`XGBCox` is gradient-boosted trees with the Cox objective. Both give the probability of a PFS
event by each horizon, a linear predictor (log relative hazard) and per-feature contributions.
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.linalg import solve
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sksurv.linear_model.coxph import BreslowEstimator

from features.schema import HORIZONS_MONTHS


@runtime_checkable
class RiskModel(Protocol):
    """What evaluation, validation, development and the gate use of a fitted model of a PFS
    landmark: `CoxRidge`, `XGBCox`, a `training.outcome.TwoCauseModel` of any relapse family,
    and a recalibrated twin of each (`training.updating.recalibrate`)."""

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a PFS event by each of `HORIZONS_MONTHS`, shape (n, 3)."""
        ...

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        """Event-free survival at `times`, shape (n, len(times))."""
        ...

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        """A ranking score, shape (n,): higher means more risk."""
        ...


def partial_log_likelihood(lp: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Cox partial log-likelihood of linear predictors `lp` (Breslow's handling of ties).

    l = sum over events i of [lp_i - log sum_{j: t_j >= t_i} exp(lp_j)].
    """
    order = np.argsort(time, kind="stable")
    t, lp_sorted = np.asarray(time, float)[order], np.asarray(lp, float)[order]
    # log of the sum of exp(lp) over each suffix (the risk set of the k-th smallest time)
    suffix = np.logaddexp.accumulate(lp_sorted[::-1])[::-1]
    first = np.searchsorted(t, t, side="left")
    died = np.asarray(event)[order] == 1
    return float(np.sum(lp_sorted[died] - suffix[first[died]]))


def ridge_cox_coefficients(
    z: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    alpha: float,
    *,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> np.ndarray:
    """Coefficients maximising the Breslow partial log-likelihood minus alpha/2 |w|^2, by
    Newton's method from zero with step halving: the estimator, penalty and stopping rule
    (relative change of the objective below `tol`, at most `max_iter` steps, a
    `ConvergenceWarning` past them) of scikit-survival's `CoxPHSurvivalAnalysis(alpha,
    ties="breslow")`, which a test holds it equal to. Its gradient and Hessian are sums over
    risk sets, which scikit-survival accumulates in a Python loop over patients (10 ms a
    step on 400 patients; the penalty's cross-validation and the optimism bootstrap fit it
    thousands of times); here they are cumulative sums, O(n p^2) in numpy.
    """
    order = np.argsort(time, kind="stable")
    z = np.asarray(z, float)[order]
    died = np.asarray(event)[order] == 1
    t = np.asarray(time, float)[order]
    first = np.searchsorted(t, t, side="left")[died]  # an event's risk set: rows first..n-1
    n, p = z.shape
    if not died.any():
        raise ValueError("a Cox model needs at least one event: every patient is censored")
    z_died = z[died]

    def objective(w: np.ndarray) -> float:
        return -partial_log_likelihood(z @ w, t, died) + 0.5 * alpha * float(w @ w)

    w = np.zeros(p)
    current = objective(w)
    for _ in range(max_iter):
        lp = z @ w
        r = np.exp(lp - lp.max())  # the shift cancels in every ratio below
        s0 = np.cumsum(r[::-1])[::-1][first]
        mean_z = (np.cumsum((r[:, None] * z)[::-1], axis=0)[::-1][first]) / s0[:, None]
        gradient = (z_died - mean_z).sum(axis=0) - alpha * w
        # sum over events of the risk set's weighted second moment: patient j enters the
        # risk set of every event at or before its time, with weight r_j / S0 of each.
        inverse = np.zeros(n)
        np.add.at(inverse, first, 1.0 / s0)
        weight = r * np.cumsum(inverse)
        information = (z * weight[:, None]).T @ z - mean_z.T @ mean_z + alpha * np.eye(p)
        if not (np.isfinite(information).all() and np.isfinite(gradient).all()):
            warnings.warn(
                "Optimization did not converge: the Newton step is not finite",
                ConvergenceWarning,
                stacklevel=2,
            )
            return w
        step = solve(information, gradient, assume_a="pos", check_finite=False)
        candidate = objective(w + step)
        halvings = 0
        while not candidate <= current and halvings < 30:
            step, halvings = step / 2, halvings + 1
            candidate = objective(w + step)
        if not candidate <= current:
            break  # no step decreases the objective: at the optimum to rounding
        w = w + step
        converged = abs(candidate - current) <= tol * abs(current)
        current = candidate
        if converged:
            return w
    else:
        warnings.warn(
            "Optimization did not converge: Maximum number of iterations has been exceeded.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return w


# The baseline is held on this grid (months): every horizon, the incidence grid's quarter
# months and the half-month grid of the curves the service draws are on it.
BASELINE_STEP_MONTHS = 0.25
BASELINE_TIMES_MONTHS = np.round(
    np.arange(BASELINE_STEP_MONTHS, 36.0 + 1e-9, BASELINE_STEP_MONTHS), 2
)


def anchored_baseline(
    lp: np.ndarray, time: np.ndarray, event: np.ndarray, times: np.ndarray = BASELINE_TIMES_MONTHS
) -> np.ndarray:
    """Baseline cumulative hazard H0(t) at `times` such that the patients' mean predicted
    risk, mean(1 - exp(-H0(t) exp(lp))), equals the Kaplan-Meier risk 1 - S(t) of the same
    patients at every t.

    Breslow's estimator makes the summed cumulative hazards match the events instead, which
    equals the Kaplan-Meier risk only when the hazards are proportional. Here they are not:
    non-responders progress early and a share of responders never does, so the high-risk
    patients' excess hazard is concentrated in the first months, and Breslow's baseline
    predicted 1-2 points more risk than Kaplan-Meier at 6 and 12 months (see the README).
    Anchoring keeps the ranking and the relative hazards, and removes that bias by solving,
    per time, a monotone equation in H0 (Newton's method on log H0).
    """
    from sksurv.nonparametric import kaplan_meier_estimator

    event = np.asarray(event) == 1
    km_times, survival = kaplan_meier_estimator(event, np.asarray(time, float))
    idx = np.searchsorted(km_times, times, side="right") - 1
    target = np.where(idx >= 0, 1 - survival[np.maximum(idx, 0)], 0.0)
    relative = np.exp(np.asarray(lp, float) - np.max(lp))  # scaled for overflow safety
    out = np.zeros(len(times))
    positive = target > 0
    log_h = np.log(-np.log1p(-target[positive]) / relative.mean())
    goal = target[positive]
    for _ in range(100):
        h = np.exp(log_h)
        exposure = h[None, :] * relative[:, None]
        survive = np.exp(-exposure)
        mean_risk = 1 - survive.mean(axis=0)
        slope = (exposure * survive).mean(axis=0)  # d mean_risk / d log h
        step = (goal - mean_risk) / np.maximum(slope, 1e-300)
        log_h += np.clip(step, -2.0, 2.0)
        if np.max(np.abs(step)) < 1e-10:
            break
    out[positive] = np.exp(log_h) / np.exp(np.max(lp))
    return np.maximum.accumulate(out)


class BreslowRisk:
    """Absolute risk from a linear predictor and a baseline cumulative hazard, anchored so
    the training patients' mean risk is their Kaplan-Meier risk at every time
    (`anchored_baseline`)."""

    def _fit_baseline(
        self, lp: np.ndarray, time: np.ndarray, event: np.ndarray, anchored: bool = True
    ) -> None:
        if anchored:
            self.baseline_times_ = BASELINE_TIMES_MONTHS
            self.baseline_cumhaz_ = anchored_baseline(lp, time, event, BASELINE_TIMES_MONTHS)
        else:  # Breslow's estimator (the cause-specific NRM model: see `CauseModels`)
            step = BreslowEstimator().fit(lp, event.astype(bool), time).cum_baseline_hazard_
            self.baseline_times_ = np.asarray(step.x, dtype=float)
            self.baseline_cumhaz_ = np.asarray(step.y, dtype=float)
        self.horizon_cumhaz_ = self.cumulative_baseline_hazard(HORIZONS_MONTHS)

    def cumulative_baseline_hazard(self, times) -> np.ndarray:
        """H0(t) as a right-continuous step function (0 before the first event)."""
        idx = np.searchsorted(self.baseline_times_, np.asarray(times, float), side="right") - 1
        return np.where(idx >= 0, self.baseline_cumhaz_[np.maximum(idx, 0)], 0.0)

    def cumulative_hazard(self, X: pd.DataFrame, times) -> np.ndarray:
        """H(t | x) = H0(t) exp(lp(x)) at each of `times`, shape (n, len(times))."""
        return (
            np.exp(self.linear_predictor(X))[:, None]
            * self.cumulative_baseline_hazard(times)[None, :]
        )

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a PFS event by 6, 12 and 24 months, shape (n, 3)."""
        return -np.expm1(-np.exp(self.linear_predictor(X))[:, None] * self.horizon_cumhaz_)

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        """PFS probability at each of `times`, shape (n, len(times))."""
        h0 = self.cumulative_baseline_hazard(times)
        return np.exp(-np.exp(self.linear_predictor(X))[:, None] * h0[None, :])


class CoxRidge(BreslowRisk, BaseEstimator):
    """Cox proportional hazards with a ridge penalty on standardised features.

    Parameters
    ----------
    alpha : float, default 1.0
        Ridge penalty on the standardised coefficients (scikit-survival's `alpha`).
    """

    family = "cox_ridge"

    def __init__(self, alpha: float = 1.0, anchored: bool = True):
        self.alpha = alpha
        self.anchored = anchored

    def fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> CoxRidge:
        self.fit_coefficients(X, time, event)
        self._fit_baseline(
            self._standardise(X) @ self.coef_,
            np.asarray(time, float),
            np.asarray(event),
            self.anchored,
        )
        return self

    def fit_coefficients(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> CoxRidge:
        """The coefficients only (`linear_predictor` works, risks need `fit`'s baseline): what
        the penalty's cross-validation needs, at a tenth of the cost of a fit."""
        self.feature_names_ = list(X.columns)
        x = X.to_numpy(dtype=float)
        self.mean_ = x.mean(axis=0)
        sd = x.std(axis=0)
        # A column that never varies (e.g. an indicator of a never-missing field) carries no
        # information; scale 1 keeps it harmless and its ridge coefficient is 0.
        self.scale_ = np.where(sd > 0, sd, 1.0)
        z = (x - self.mean_) / self.scale_
        self.coef_ = ridge_cox_coefficients(z, time, event, self.alpha)
        return self

    def _standardise(self, X: pd.DataFrame) -> np.ndarray:
        return (X[self.feature_names_].to_numpy(dtype=float) - self.mean_) / self.scale_

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        return self._standardise(X) @ self.coef_

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact log-hazard contribution of each feature relative to the training mean."""
        return self._standardise(X) * self.coef_


def _cox_label(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """XGBoost's Cox objective reads censoring from the sign of the label."""
    return np.where(np.asarray(event) == 1, time, -time)


class _CoxBoosted:
    """What XGBCox and RidgeXGB share: the booster's settings and the margin as the log
    relative hazard (subclasses say what the trees' inputs are, in `_matrix`)."""

    def _booster(self) -> xgb.XGBRegressor:
        return xgb.XGBRegressor(
            objective="survival:cox",
            tree_method="hist",
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            min_child_weight=self.min_child_weight,
            random_state=self.random_state,
            n_jobs=2,
            base_score=1.0,
        )

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        margin = self.model_.get_booster().predict(self._matrix(X), output_margin=True)
        return np.asarray(margin, dtype=float)


class XGBCox(_CoxBoosted, BreslowRisk, BaseEstimator):
    """Gradient-boosted trees with XGBoost's Cox objective and a Breslow baseline."""

    family = "xgb_cox"

    def __init__(
        self,
        n_estimators: int = 300,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        min_child_weight: float = 20.0,
        random_state: int = 0,
        anchored: bool = True,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.anchored = anchored

    def fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> XGBCox:
        self.feature_names_ = list(X.columns)
        time = np.asarray(time, float)
        self.model_ = self._booster()
        self.model_.fit(X[self.feature_names_].to_numpy(dtype=np.float32), _cox_label(time, event))
        self._fit_baseline(self.linear_predictor(X), time, np.asarray(event), self.anchored)
        return self

    def _matrix(self, X: pd.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(X[self.feature_names_].to_numpy(dtype=np.float32))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Saabas path contributions to the log relative hazard (bias column dropped).

        The same attribution the ONNX export computes in-graph (XGBoost's approx_contribs).
        """
        contribs = self.model_.get_booster().predict(
            self._matrix(X), pred_contribs=True, approx_contribs=True
        )
        return np.asarray(contribs[:, :-1], dtype=float)


class RidgeXGB(_CoxBoosted, BreslowRisk, BaseEstimator):
    """Gradient-boosted trees boosted from a ridge Cox model: the ridge model's linear
    predictor is both the trees' starting margin and one more input they may split on.

    log h(t | x) = lp(x) + f(x, lp(x)), with lp the ridge Cox linear predictor (fitted
    first, on the same patients) and f the trees (XGBoost's Cox objective, `base_margin` =
    lp). Why: where the truth is a linear index of many predictors (the generator's relapse
    risk is one), trees approximate it with many axis-aligned steps and lose accuracy, while
    a linear model cannot bend where the hazard is not proportional (ctDNA at day 28 marks
    both the cured and the impending relapses). Started from the index and able to split on
    it, the trees only learn the departures (see `benchmarks/oracle_gap.py`).

    Contributions: the ridge model's exact terms, plus the trees' Saabas attributions to each
    recorded feature, plus the trees' attribution to the index shared out over the features
    in proportion to the size of their ridge terms. They add up to the log relative hazard
    less the trees' expected margin, as XGBCox's do.
    """

    family = "ridge_xgb"

    def __init__(
        self,
        alpha: float = 1.0,
        n_estimators: int = 300,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        min_child_weight: float = 20.0,
        random_state: int = 0,
        anchored: bool = True,
    ):
        self.alpha = alpha
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.anchored = anchored

    def fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> RidgeXGB:
        self.feature_names_ = list(X.columns)
        time = np.asarray(time, float)
        self.ridge_ = CoxRidge(alpha=self.alpha, anchored=False).fit(X, time, event)
        self.model_ = self._booster()
        index = self.index(X)
        self.model_.fit(self._inputs(X, index), _cox_label(time, event), base_margin=index)
        self._fit_baseline(self.linear_predictor(X), time, np.asarray(event), self.anchored)
        return self

    def index(self, X: pd.DataFrame) -> np.ndarray:
        """The ridge linear predictor, from the features as float32 (what the ONNX graph
        receives) in float64 arithmetic (what the graph computes it in). The trees split on
        it, so it must be the same number in both to the last bit of its float32 value: a
        value computed in float32 by another route can fall on the other side of a split
        (a training patient's value is often exactly a split point)."""
        r = self.ridge_
        x = X[self.feature_names_].to_numpy(dtype=np.float32).astype(np.float64)
        return ((x - r.mean_) / r.scale_) @ r.coef_

    def _inputs(self, X: pd.DataFrame, index: np.ndarray) -> np.ndarray:
        """The trees' inputs: the features and, last, the ridge index."""
        x = X[self.feature_names_].to_numpy(dtype=np.float32)
        return np.column_stack([x, index.astype(np.float32)])

    def _matrix(self, X: pd.DataFrame) -> xgb.DMatrix:
        index = self.index(X)
        return xgb.DMatrix(self._inputs(X, index), base_margin=index)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        ridge = self.ridge_.contributions(X)
        trees = self.model_.get_booster().predict(
            self._matrix(X), pred_contribs=True, approx_contribs=True
        )
        size = np.abs(ridge)
        share = size / np.maximum(size.sum(axis=1, keepdims=True), 1e-30)
        return ridge + trees[:, :-2] + trees[:, -2:-1] * share


# Relapse and non-relapse mortality: two cause-specific Cox models (the other cause censors)
# decide how each step's PFS events divide; the PFS model keeps deciding how many there are.
NRM_FEATURES = ("age_years", "age_years_missing", "ecog", "ecog_missing")
CAUSE_PENALTY = 1.0
# The cumulative incidences are integrated on this grid (months; every horizon is on it).
CIF_GRID_MONTHS = np.round(np.arange(0.0, max(HORIZONS_MONTHS) + 1e-9, 0.25), 2)
CIF_HORIZON_INDEX = tuple(int(np.searchsorted(CIF_GRID_MONTHS, h)) for h in HORIZONS_MONTHS)


def cause_events(event: np.ndarray, event_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(progression, death) indicators of the PFS events by their cause; raise when a cause
    has fewer than two events (or the cohort has no pfs_event_type)."""
    kind = np.asarray(event_type, dtype=object)
    happened = np.asarray(event) == 1
    death, progression = happened & (kind == "death"), happened & (kind == "progression")
    if death.sum() < 2 or progression.sum() < 2:
        raise ValueError(
            f"{int(progression.sum())} progressions and {int(death.sum())} deaths without "
            "progression: models of the two causes need pfs_event_type on the cohort and "
            "at least a few events of each"
        )
    return progression, death


class CauseModels:
    """The cause-specific models of relapse (every feature) and of non-relapse mortality
    (`NRM_FEATURES`: the predictors the literature links to it), each a ridge Cox model with
    Breslow's baseline: a cause-specific hazard is estimated with the other cause censoring,
    which a Kaplan-Meier anchor would wrongly read as independent censoring."""

    def __init__(self, relapse: CoxRidge, nrm: CoxRidge):
        self.relapse, self.nrm = relapse, nrm

    @classmethod
    def fit(
        cls,
        X: pd.DataFrame,
        time: np.ndarray,
        event: np.ndarray,
        event_type: np.ndarray,
        penalty: float = CAUSE_PENALTY,
    ) -> CauseModels:
        progression, death = cause_events(event, event_type)
        return cls(
            CoxRidge(alpha=penalty, anchored=False).fit(X, time, progression.astype(float)),
            CoxRidge(alpha=penalty, anchored=False).fit(
                X[list(NRM_FEATURES)], time, death.astype(float)
            ),
        )

    def grid(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each cause's linear predictor and baseline cumulative hazard on the grid."""
        return {
            f"{name}_{part}": value
            for name, model in (("relapse", self.relapse), ("nrm", self.nrm))
            for part, value in (
                ("lp", model.linear_predictor(X)),
                ("cumhaz", model.cumulative_baseline_hazard(CIF_GRID_MONTHS)),
            )
        }

    def describe(self) -> dict:
        """Both models as JSON-able metadata (enough to rebuild them: `from_metadata`)."""

        def one(m: CoxRidge) -> dict:
            return {
                "features": list(m.feature_names_),
                "penalty": m.alpha,
                "mean": m.mean_.tolist(),
                "scale": m.scale_.tolist(),
                "coef": m.coef_.tolist(),
                "hazard_ratio_per_sd": np.exp(m.coef_).tolist(),
                "grid_months": CIF_GRID_MONTHS.tolist(),
                "cumhaz": m.cumulative_baseline_hazard(CIF_GRID_MONTHS).tolist(),
            }

        return {"relapse": one(self.relapse), "nrm": one(self.nrm)}

    @classmethod
    def from_metadata(cls, info: dict) -> CauseModels:
        """The models `describe` recorded (their baselines on the grid)."""

        def one(d: dict) -> CoxRidge:
            model = CoxRidge(alpha=d["penalty"], anchored=False)
            model.feature_names_ = list(d["features"])
            model.mean_, model.scale_, model.coef_ = (
                np.asarray(d[k], float) for k in ("mean", "scale", "coef")
            )
            model.baseline_times_ = np.asarray(d["grid_months"], float)
            model.baseline_cumhaz_ = np.asarray(d["cumhaz"], float)
            model.horizon_cumhaz_ = model.cumulative_baseline_hazard(HORIZONS_MONTHS)
            return model

        return cls(one(info["relapse"]), one(info["nrm"]))


def nrm_incidence(
    pfs_lp: np.ndarray,
    pfs_cumhaz: np.ndarray,
    relapse_lp: np.ndarray,
    relapse_cumhaz: np.ndarray,
    nrm_lp: np.ndarray,
    nrm_cumhaz: np.ndarray,
) -> np.ndarray:
    """Cumulative incidence of non-relapse death at the horizons, shape (n, 3).

    The PFS model gives the events of each step of `CIF_GRID_MONTHS`; the two cause-specific
    hazards, taken as constant on the step, give the share that are deaths without
    progression: NRM(t) = sum over steps to t of S(start) (1 - exp(-dH)) dH_nrm /
    (dH_relapse + dH_nrm). Relapse = risk - NRM then makes risk = relapse + NRM exact. All
    cumulative hazards are baselines on the grid.
    """
    total = np.exp(pfs_lp)[:, None] * pfs_cumhaz[None, :]
    d_total = np.diff(total, axis=1)
    d_relapse = np.exp(relapse_lp)[:, None] * np.diff(relapse_cumhaz)[None, :]
    d_nrm = np.exp(nrm_lp)[:, None] * np.diff(nrm_cumhaz)[None, :]
    share = d_nrm / np.maximum(d_relapse + d_nrm, 1e-300)
    steps = np.exp(-total[:, :-1]) * -np.expm1(-d_total) * share
    cumulative = np.concatenate([np.zeros((len(total), 1)), np.cumsum(steps, axis=1)], axis=1)
    return cumulative[:, list(CIF_HORIZON_INDEX)]


class CompetingRisks:
    """A PFS model and the cause-specific models: risk split into relapse and NRM.

    Parameters
    ----------
    pfs : BreslowRisk
        The all-cause model (its risk is the PFS risk the project has always scored).
    causes : CauseModels
    """

    def __init__(self, pfs, causes: CauseModels):
        self.pfs, self.causes = pfs, causes

    def predict_causes(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """risk, relapse and nrm at 6/12/24 months, each shape (n, 3)."""
        risk = self.pfs.predict_risk(X)
        nrm = nrm_incidence(
            self.pfs.linear_predictor(X),
            self.pfs.cumulative_baseline_hazard(CIF_GRID_MONTHS),
            **self.causes.grid(X),
        )
        return {"risk": risk, "relapse": np.maximum(risk - nrm, 0.0), "nrm": nrm}
