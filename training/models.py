"""Survival models for PFS risk at fixed horizons, each with a Breslow baseline.

`CoxRidge` is the transparent model (a scikit-survival Cox model on standardised features);
`XGBCox` is gradient-boosted trees with the Cox objective. Both give the probability of a PFS
event by each horizon, a linear predictor (log relative hazard) and per-feature contributions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.util import Surv

HORIZONS_MONTHS = (6.0, 12.0, 24.0)


class BreslowRisk:
    """Absolute risk from a linear predictor and a Breslow cumulative baseline hazard."""

    def _fit_baseline(self, lp: np.ndarray, time: np.ndarray, event: np.ndarray) -> None:
        breslow = BreslowEstimator().fit(lp, event.astype(bool), time)
        step = breslow.cum_baseline_hazard_
        self.baseline_times_ = np.asarray(step.x, dtype=float)
        self.baseline_cumhaz_ = np.asarray(step.y, dtype=float)
        self.horizon_cumhaz_ = self.cumulative_baseline_hazard(HORIZONS_MONTHS)

    def cumulative_baseline_hazard(self, times) -> np.ndarray:
        """H0(t) as a right-continuous step function (0 before the first event)."""
        idx = np.searchsorted(self.baseline_times_, np.asarray(times, float), side="right") - 1
        return np.where(idx >= 0, self.baseline_cumhaz_[np.maximum(idx, 0)], 0.0)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of a PFS event by 6, 12 and 24 months, shape (n, 3)."""
        return -np.expm1(-np.exp(self.linear_predictor(X))[:, None] * self.horizon_cumhaz_)

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        """PFS probability at each of `times`, shape (n, len(times))."""
        h0 = self.cumulative_baseline_hazard(times)
        return np.exp(-np.exp(self.linear_predictor(X))[:, None] * h0[None, :])


def _survival(time: np.ndarray, event: np.ndarray):
    return Surv.from_arrays(event=np.asarray(event).astype(bool), time=np.asarray(time, float))


class CoxRidge(BreslowRisk, BaseEstimator):
    """Cox proportional hazards with a ridge penalty on standardised features.

    Parameters
    ----------
    alpha : float, default 1.0
        Ridge penalty on the standardised coefficients (scikit-survival's `alpha`).
    """

    family = "cox_ridge"

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> CoxRidge:
        self.feature_names_ = list(X.columns)
        x = X.to_numpy(dtype=float)
        self.mean_ = x.mean(axis=0)
        sd = x.std(axis=0)
        # A column that never varies (e.g. an indicator of a never-missing field) carries no
        # information; scale 1 keeps it harmless and its ridge coefficient is 0.
        self.scale_ = np.where(sd > 0, sd, 1.0)
        z = (x - self.mean_) / self.scale_
        model = CoxPHSurvivalAnalysis(alpha=self.alpha, ties="breslow")
        model.fit(z, _survival(time, event))
        self.coef_ = np.asarray(model.coef_, dtype=float)
        self._fit_baseline(z @ self.coef_, np.asarray(time, float), np.asarray(event))
        return self

    def _standardise(self, X: pd.DataFrame) -> np.ndarray:
        return (X[self.feature_names_].to_numpy(dtype=float) - self.mean_) / self.scale_

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        return self._standardise(X) @ self.coef_

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact log-hazard contribution of each feature relative to the training mean."""
        return self._standardise(X) * self.coef_


class XGBCox(BreslowRisk, BaseEstimator):
    """Gradient-boosted trees with XGBoost's Cox objective and a Breslow baseline."""

    family = "xgb_cox"

    def __init__(self, n_estimators: int = 300, max_depth: int = 3, learning_rate: float = 0.05,
                 subsample: float = 0.8, min_child_weight: float = 20.0, random_state: int = 0):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> XGBCox:
        self.feature_names_ = list(X.columns)
        time = np.asarray(time, float)
        # XGBoost's Cox objective reads censoring from the sign of the label.
        label = np.where(np.asarray(event) == 1, time, -time)
        self.model_ = xgb.XGBRegressor(
            objective="survival:cox", tree_method="hist", n_estimators=self.n_estimators,
            max_depth=self.max_depth, learning_rate=self.learning_rate,
            subsample=self.subsample, min_child_weight=self.min_child_weight,
            random_state=self.random_state, n_jobs=2, base_score=1.0)
        self.model_.fit(X[self.feature_names_].to_numpy(dtype=np.float32), label)
        self._fit_baseline(self.linear_predictor(X), time, np.asarray(event))
        return self

    def _matrix(self, X: pd.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(X[self.feature_names_].to_numpy(dtype=np.float32))

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        margin = self.model_.get_booster().predict(self._matrix(X), output_margin=True)
        return np.asarray(margin, dtype=float)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Saabas path contributions to the log relative hazard (bias column dropped).

        The same attribution the ONNX export computes in-graph (XGBoost's approx_contribs).
        """
        contribs = self.model_.get_booster().predict(self._matrix(X), pred_contribs=True,
                                                     approx_contribs=True)
        return np.asarray(contribs[:, :-1], dtype=float)
