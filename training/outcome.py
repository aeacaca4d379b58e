"""The outcome model: relapse and non-relapse mortality (NRM) as two cause-specific hazards,
integrated together into cumulative incidences, so that risk = relapse + NRM by construction.

For cause k with cumulative cause-specific hazard H_k(t | x), the cumulative incidence is
CIF_k(t) = integral of S(u-) dH_k(u), with S = exp(-H_relapse - H_nrm) the event-free
survival of both causes. On `GRID_MONTHS` both hazards are taken as constant within a step,
so each step's events S(start) - S(end) divide in the proportion of the two increments
(exact for piecewise-constant hazards). The total, 1 - S, can never fall below what the NRM
hazard alone implies, 1 - exp(-H_nrm).

The relapse hazard comes from one of four families, all fitted with NRM deaths censoring
(the likelihood of cause-specific hazards factorises by cause, so this is the relapse part of
the full likelihood, not an independence assumption):

- `cox_ridge`: a ridge Cox model with Breslow's baseline;
- `xgb_cox`: gradient-boosted trees with the Cox objective and Breslow's baseline;
- `ridge_xgb`: the same trees boosted from the ridge Cox model's linear predictor, which they
  also take as an input (`training.models.RidgeXGB`), with Breslow's baseline;
- `cure`: a mixture-cure model (`MixtureCure`): a probability of durable remission, logistic
  in the predictors, and a proportional-hazards latency for the others. Its relapse
  cumulative hazard is H_relapse(t) = -log(pi + (1 - pi) S_u(t)): it levels off at -log(pi),
  the plateau of CAR-T survival curves.

The NRM hazard is a ridge Cox model of age and ECOG (the predictors the literature links to
it); it acts on every patient, cured of the lymphoma or not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator

from model_registry.curves import conditional_risks
from training.models import (
    HORIZONS_MONTHS,
    NRM_FEATURES,
    CoxRidge,
    RidgeXGB,
    XGBCox,
    cause_events,
)

GRID_STEP_MONTHS = 0.25
# Up to 36 months: risks over the next 12 months for a patient event-free at 24 months.
GRID_MONTHS = np.round(np.arange(0.0, 36.0 + 1e-9, GRID_STEP_MONTHS), 2)
HORIZON_INDEX = tuple(int(np.searchsorted(GRID_MONTHS, h)) for h in HORIZONS_MONTHS)
NRM_PENALTY = 1.0
RELAPSE_FAMILIES = ("cox_ridge", "xgb_cox", "ridge_xgb", "cure")
M_STEP_ITERATIONS = 10


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    # A column that never varies carries no information: scale 1 keeps it harmless.
    return mean, np.where(sd > 0, sd, 1.0)


def _risk_set_sums(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Sum over the risk set of the rows `first` points at (rows sorted by time; `first`: the
    first row of each row's tied time): the total less what came before."""
    prefix = np.cumsum(values, axis=0)
    before = np.where(
        (first > 0).reshape(-1, *([1] * (values.ndim - 1))), prefix[np.maximum(first - 1, 0)], 0.0
    )
    return prefix[-1] - before


class MixtureCure(BaseEstimator):
    """Mixture-cure model of one cause: P(cured | x) logistic, latency proportional hazards.

    S_relapse(t | x) = pi(x) + (1 - pi(x)) S_u(t | x), with pi(x) = P(cured) and
    S_u(t | x) = exp(-H0(t) exp(z b)) for the uncured (z: standardised predictors).

    Fitted by EM, as R's smcure does (Peng and Dear, Biometrics 2000; Sy and Taylor,
    Biometrics 2000; Cai et al., Comput Methods Programs Biomed 2012): the E-step gives each
    censored patient's probability of being uncured, w = (1 - pi) S_u(t) / (pi + (1 - pi)
    S_u(t)) (1 for patients with the event); the M-step is a ridge logistic regression of w
    (incidence), a ridge Cox model whose risk sets weight each patient by w (latency), and
    Breslow's weighted baseline. EM rather than direct likelihood because the baseline is
    nonparametric: each M-step is then two smooth, convex, standard problems (scipy's L-BFGS
    with exact gradients), where a direct fit would need a parametric baseline or a profile
    over every hazard jump. Beyond the last event the latency survival is set to 0 (smcure's
    zero-tail constraint), which identifies the cure fraction: a patient followed past every
    observed relapse is taken as cured.

    Parameters
    ----------
    alpha_incidence, alpha_latency : float, default 1.0
        Ridge penalties on the standardised coefficients (0.5 alpha ||b||^2 subtracted from
        each log-likelihood, as scikit-survival's alpha).
    max_iter : int, default 500
    tol : float, default 1e-4
        EM stops when no patient's uncured probability moves by more than this.
    """

    family = "cure"

    def __init__(
        self,
        alpha_incidence: float = 1.0,
        alpha_latency: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-4,
    ):
        self.alpha_incidence = alpha_incidence
        self.alpha_latency = alpha_latency
        self.max_iter = max_iter
        self.tol = tol

    # -- fitting ---------------------------------------------------------------------------
    def _incidence_step(self, z, w, start):
        alpha = self.alpha_incidence

        def loss(theta):
            eta = theta[0] + z @ theta[1:]
            p = expit(eta)
            ll = np.sum(w * eta + log_expit(-eta))  # w log p + (1 - w) log(1 - p)
            grad = np.concatenate([[np.sum(w - p)], z.T @ (w - p) - alpha * theta[1:]])
            return -(ll - 0.5 * alpha * theta[1:] @ theta[1:]), -grad

        return minimize(
            loss, start, jac=True, method="L-BFGS-B", options={"maxiter": M_STEP_ITERATIONS}
        ).x

    def _latency_step(self, zs, ds, ws, first, start):
        alpha = self.alpha_latency
        at = first[ds]  # the risk set of each event
        z_events = zs[ds].sum(axis=0)

        def loss(b):
            eta = zs @ b
            top = eta.max()
            e = ws * np.exp(eta - top)
            s0 = np.maximum(_risk_set_sums(e, at), 1e-300)
            s1 = _risk_set_sums(e[:, None] * zs, at)
            ll = np.sum(eta[ds]) - np.sum(np.log(s0)) - top * len(at)
            grad = z_events - np.sum(s1 / s0[:, None], axis=0) - alpha * b
            return -(ll - 0.5 * alpha * b @ b), -grad

        # Generalised EM: a few warm-started steps per M-step are enough for the likelihood
        # to rise; EM's convergence test decides when to stop.
        return minimize(
            loss, start, jac=True, method="L-BFGS-B", options={"maxiter": M_STEP_ITERATIONS}
        ).x

    def fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> MixtureCure:
        self.feature_names_ = list(X.columns)
        x = X.to_numpy(dtype=float)
        self.mean_, self.scale_ = _standardise(x)
        z = (x - self.mean_) / self.scale_
        time = np.asarray(time, float)
        died = np.asarray(event) == 1
        if died.sum() < 2:
            raise ValueError(f"a mixture-cure model needs events; got {int(died.sum())}")
        order = np.argsort(time, kind="stable")
        zs, ts, ds = z[order], time[order], died[order]
        first = np.searchsorted(ts, ts, side="left")
        self.tail_months_ = float(time[died].max())
        k = z.shape[1]
        w = np.where(died, 1.0, 0.5)
        theta, b = np.zeros(k + 1), np.zeros(k)
        iterations = 0
        while iterations < self.max_iter:
            iterations += 1
            theta = self._incidence_step(z, w, theta)
            b = self._latency_step(zs, ds, w[order], first, b)
            times, cumhaz = self._breslow(zs, ts, ds, w[order], first, b)
            idx = np.searchsorted(times, time, side="right") - 1
            h0 = np.where(idx >= 0, cumhaz[np.maximum(idx, 0)], 0.0)
            s_u = np.exp(-h0 * np.exp(z @ b))
            s_u = np.where(time > self.tail_months_, 0.0, s_u)
            p_uncured = expit(theta[0] + z @ theta[1:])
            new = np.where(
                died, 1.0, p_uncured * s_u / np.maximum(1 - p_uncured + p_uncured * s_u, 1e-300)
            )
            moved = float(np.max(np.abs(new - w)))
            w = new
            if moved < self.tol:
                break
        self.n_iter_, self.converged_ = iterations, moved < self.tol
        self.uncured_intercept_, self.uncured_coef_ = float(theta[0]), theta[1:]
        self.latency_coef_ = b
        self.baseline_times_, self.baseline_cumhaz_ = times, cumhaz
        return self

    @staticmethod
    def _breslow(zs, ts, ds, ws, first, b):
        """Breslow's weighted baseline: a jump of d_j / sum_R w exp(z b) at each event time."""
        event_times, at = np.unique(ts[ds], return_index=True)
        risk = _risk_set_sums(ws * np.exp(zs @ b), first[ds][at])
        counts = np.bincount(np.searchsorted(event_times, ts[ds]), minlength=len(event_times))
        jumps = counts / np.maximum(risk, 1e-300)
        return event_times, np.cumsum(jumps)

    # -- prediction ------------------------------------------------------------------------
    def _z(self, X: pd.DataFrame) -> np.ndarray:
        return (X[self.feature_names_].to_numpy(dtype=float) - self.mean_) / self.scale_

    def uncured_logit(self, X: pd.DataFrame) -> np.ndarray:
        return self.uncured_intercept_ + self._z(X) @ self.uncured_coef_

    def cure_probability(self, X: pd.DataFrame) -> np.ndarray:
        return expit(-self.uncured_logit(X))

    def latency_predictor(self, X: pd.DataFrame) -> np.ndarray:
        return self._z(X) @ self.latency_coef_

    def latency_baseline(self, times) -> np.ndarray:
        """H0 of the uncured at `times` (a step function; inf past the zero-tail)."""
        times = np.asarray(times, float)
        idx = np.searchsorted(self.baseline_times_, times, side="right") - 1
        h0 = np.where(idx >= 0, self.baseline_cumhaz_[np.maximum(idx, 0)], 0.0)
        return np.where(times > self.tail_months_, np.inf, h0)

    def cumulative_hazard(self, X: pd.DataFrame, times) -> np.ndarray:
        """H(t | x) = -log(pi + (1 - pi) S_u(t | x)), shape (n, len(times))."""
        cure = self.cure_probability(X)[:, None]
        s_u = np.exp(
            -np.exp(self.latency_predictor(X))[:, None] * self.latency_baseline(times)[None, :]
        )
        return -np.log(cure + (1 - cure) * s_u)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Each feature's contribution to the log-odds of not being cured (relative to the
        training mean): the part of the model that sets the plateau."""
        return self._z(X) * self.uncured_coef_


def relapse_family(name: str, seed: int = 0, penalty: float = 1.0):
    """A fresh relapse model of family `name` (Breslow baselines: a cause-specific hazard is
    estimated with the other cause censoring, which a Kaplan-Meier anchor would misread)."""
    if name == "cox_ridge":
        return CoxRidge(alpha=penalty, anchored=False)
    if name == "xgb_cox":
        return XGBCox(random_state=seed, anchored=False)
    if name == "ridge_xgb":
        return RidgeXGB(alpha=penalty, random_state=seed, anchored=False)
    if name == "cure":
        return MixtureCure(alpha_incidence=penalty, alpha_latency=penalty)
    raise ValueError(f"relapse family must be one of {RELAPSE_FAMILIES}, got {name!r}")


def cumulative_incidences(
    relapse_cumhaz: np.ndarray, nrm_cumhaz: np.ndarray
) -> dict[str, np.ndarray]:
    """Cumulative incidences of both causes and event-free survival on the grid the
    cumulative hazards are given on (each shape (n, G), G >= 2)."""
    survival = np.exp(-(relapse_cumhaz + nrm_cumhaz))
    d_relapse, d_nrm = np.diff(relapse_cumhaz, axis=1), np.diff(nrm_cumhaz, axis=1)
    d_total = d_relapse + d_nrm
    events = survival[:, :-1] - survival[:, 1:]
    share = np.divide(d_relapse, d_total, out=np.zeros_like(d_total), where=d_total > 0)
    relapse_steps = events * share
    zero = np.zeros((len(survival), 1))
    return {
        "relapse": np.concatenate([zero, np.cumsum(relapse_steps, axis=1)], axis=1),
        "nrm": np.concatenate([zero, np.cumsum(events - relapse_steps, axis=1)], axis=1),
        "event_free": survival,
    }


class CurveRisk:
    """What evaluation needs of a model, from its `curves(X)` on `GRID_MONTHS`:
    `predict_causes`, `predict_risk`, `predict_survival` and `linear_predictor` (a ranking
    score: log of the 12-month all-cause cumulative hazard). Shared by the fitted two-cause
    model and its recalibrated twin (`training.updating.recalibrate`)."""

    def predict_causes(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """risk, relapse and nrm at 6/12/24 months, each shape (n, 3)."""
        curves = self.curves(X)
        at = list(HORIZON_INDEX)
        relapse, nrm = curves["relapse"][:, at], curves["nrm"][:, at]
        return {"risk": relapse + nrm, "relapse": relapse, "nrm": nrm}

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_causes(X)["risk"]

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        """Event-free survival at `times` (the grid's step function), shape (n, len(times))."""
        idx = np.searchsorted(GRID_MONTHS, np.asarray(times, float), side="right") - 1
        return self.curves(X)["event_free"][:, np.maximum(idx, 0)]

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        survival_12 = self.curves(X)["event_free"][:, HORIZON_INDEX[1]]
        return np.log(np.maximum(-np.log(survival_12), 1e-300))


class TwoCauseModel(CurveRisk):
    """A relapse model and an NRM model, integrated together (see the module docstring).

    Offers what evaluation and export need of a model (`CurveRisk`), `contributions` (the
    relapse model's) and `feature_names_`.
    """

    def __init__(self, relapse, nrm: CoxRidge):
        self.relapse, self.nrm = relapse, nrm
        self.feature_names_ = list(relapse.feature_names_)
        self.family = relapse.family

    @classmethod
    def fit(
        cls,
        relapse,
        X: pd.DataFrame,
        time: np.ndarray,
        event: np.ndarray,
        event_type: np.ndarray,
        nrm_penalty: float = NRM_PENALTY,
    ) -> TwoCauseModel:
        """Fit `relapse` (unfitted, from `relapse_family`) and the NRM model."""
        progression, death = cause_events(event, event_type)
        time = np.asarray(time, float)
        relapse.fit(X, time, progression.astype(float))
        nrm = CoxRidge(alpha=nrm_penalty, anchored=False).fit(
            X[list(NRM_FEATURES)], time, death.astype(float)
        )
        return cls(relapse, nrm)

    @property
    def has_cure(self) -> bool:
        return isinstance(self.relapse, MixtureCure)

    def curves(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """relapse, nrm (cumulative incidences), event_free and relapse_cumhaz on the grid."""
        relapse_cumhaz = self.relapse.cumulative_hazard(X, GRID_MONTHS)
        out = cumulative_incidences(relapse_cumhaz, self.nrm.cumulative_hazard(X, GRID_MONTHS))
        out["relapse_cumhaz"] = relapse_cumhaz
        return out

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        return self.relapse.contributions(X)

    def cure_probability(self, X: pd.DataFrame) -> np.ndarray | None:
        return self.relapse.cure_probability(X) if self.has_cure else None

    def conditional(self, X: pd.DataFrame, event_free_months) -> dict[str, np.ndarray]:
        """Risks for patients still event-free at `event_free_months`
        (`model_registry.curves.conditional_risks`)."""
        return conditional_risks(
            self.curves(X), event_free_months, GRID_STEP_MONTHS, self.cure_probability(X)
        )

    def describe(self) -> dict:
        """The relapse and NRM parts as JSON-able metadata."""

        def cox(m: CoxRidge) -> dict:
            return {
                "features": list(m.feature_names_),
                "penalty": m.alpha,
                "coef": m.coef_.tolist(),
                "hazard_ratio_per_sd": np.exp(m.coef_).tolist(),
            }

        relapse: dict = {"family": self.family}
        if isinstance(self.relapse, CoxRidge):
            relapse.update(cox(self.relapse))
        elif isinstance(self.relapse, RidgeXGB):
            relapse.update({"boosted_from": cox(self.relapse.ridge_)})
        elif self.has_cure:
            r = self.relapse
            relapse.update(
                {
                    "features": list(r.feature_names_),
                    "penalty": {"incidence": r.alpha_incidence, "latency": r.alpha_latency},
                    "uncured_intercept": r.uncured_intercept_,
                    "uncured_odds_ratio_per_sd": np.exp(r.uncured_coef_).tolist(),
                    "latency_hazard_ratio_per_sd": np.exp(r.latency_coef_).tolist(),
                    "zero_tail_months": r.tail_months_,
                    "em_iterations": r.n_iter_,
                    "em_converged": bool(r.converged_),
                }
            )
        return {
            "relapse": relapse,
            "nrm": cox(self.nrm),
            "grid_months": [float(GRID_MONTHS[0]), float(GRID_MONTHS[-1]), GRID_STEP_MONTHS],
        }
