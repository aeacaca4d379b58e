"""Model development on real-sized cohorts (hundreds of patients): every patient is used for
fitting, complexity is chosen by cross-validation and performance is corrected for optimism.

With a few hundred patients a 20% hold-out wastes a fifth of the data and measures the model
with a standard error of several points of C. Instead, per landmark:

1. the ridge penalty of the Cox model is chosen by Verweij and van Houwelingen's
   cross-validated partial log-likelihood (Stat Med 1993) over `PENALTY_GRID`;
2. gradient-boosted trees are compared with that model on the same folds, and chosen only
   when their held-out Harrell's C is higher with a 95% interval excluding no difference
   (Nadeau and Bengio's corrected resampled t, Mach Learn 2003: fold differences are
   correlated, so the naive interval is too narrow);
3. Harrell's bootstrap estimates the optimism of the apparent C-index and 12-month
   calibration slope by repeating steps 1-2 on each resample (Harrell, Lee and Mark, Stat Med
   1996): corrected = apparent - mean(resample apparent - resample model on the original);
4. when the corrected calibration slope is below 0.95 the ridge Cox model is shrunk by it
   (van Houwelingen's heuristic: on 500 patients it is 0.7-0.8, the model is overfitted and
   its risks too extreme), with the baseline re-estimated.

When the cohort records each event's cause, steps 1-2 choose on the relapse events (NRM
censoring, as in the relapse model itself) and the model is the two-cause model
(`training.outcome`) with the chosen relapse family beside the NRM model. The mixture-cure
family is not a candidate here: its EM fit inside every one of the bootstrap's repetitions of
the whole strategy would cost minutes a resample; it competes in the hold-out strategy.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from features.encode import encode
from features.schema import PFS_EVENT, PFS_MONTHS
from training.cohort import Cohort, landmark_mask
from training.landmark_fit import LandmarkFit, event_types, typed_events
from training.metrics import (
    CALIBRATION_HORIZON,
    calibration_slope_intercept,
    evaluate,
    harrell_c,
)
from training.models import (
    HORIZONS_MONTHS,
    CoxRidge,
    RiskModel,
    XGBCox,
    cause_events,
    partial_log_likelihood,
)
from training.outcome import TwoCauseModel, relapse_family
from training.resampling import resample_indices, run_resamples

# scikit-survival's alpha on standardised predictors: 0.5 * alpha * ||beta||^2 is subtracted
# from the partial log-likelihood, so its effect is relative to the number of events.
PENALTY_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
FOLDS = 5
DEFAULT_BOOTSTRAP = 200
# A model whose optimism-corrected slope is below this is shrunk (`shrunk_model`).
SHRINK_BELOW = 0.95
_I12 = HORIZONS_MONTHS.index(CALIBRATION_HORIZON)


class DevelopmentError(ValueError):
    """A cohort too small to develop a model on (names the counts and what to do)."""


def _folds(
    event: np.ndarray, groups: np.ndarray | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds; copies of one patient (a bootstrap resample's duplicates, same
    `groups` value) stay in one fold, or trees memorise them and win every comparison."""
    if groups is None:
        splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(event)), event))
    splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(event)), event, groups))


@dataclass
class Choice:
    """What the strategy chose on one data set, and the figures it chose on."""

    family: str
    penalty: float
    cv_partial_loglik: list[float | None]
    cv_harrell_c: dict[str, float]
    c_difference: float
    c_difference_ci: tuple[float, float]
    reason: str

    def as_dict(self) -> dict:
        return {
            "strategy": "resampling",
            "folds": FOLDS,
            "penalty_grid": list(PENALTY_GRID),
            "cv_partial_loglik": self.cv_partial_loglik,
            "penalty": self.penalty,
            "cv_harrell_c": self.cv_harrell_c,
            "xgb_minus_ridge_c": self.c_difference,
            "xgb_minus_ridge_c_ci95": list(self.c_difference_ci),
            "family": self.family,
            "reason": self.reason,
        }


def choose(
    X: pd.DataFrame,
    time: np.ndarray,
    event: np.ndarray,
    seed: int,
    groups: np.ndarray | None = None,
) -> Choice:
    """Steps 1 and 2: the ridge penalty by cross-validated partial likelihood, then trees
    against that model on the same folds (`groups`: patient of each row, when repeated)."""
    folds = _folds(event, groups, seed)
    full = np.zeros(len(PENALTY_GRID))
    fold_lp: dict[int, list[np.ndarray]] = {}
    for train, _ in folds:
        for k, alpha in enumerate(PENALTY_GRID):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = CoxRidge(alpha=alpha).fit_coefficients(
                    X.iloc[train], time[train], event[train]
                )
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                # A fit that did not converge (100 Newton steps, or a step that is not
                # finite): not a candidate.
                full[k] = -np.inf
            lp = model.linear_predictor(X)
            # Verweij-van Houwelingen: what fold k adds to the full-data likelihood.
            full[k] += partial_log_likelihood(lp, time, event) - partial_log_likelihood(
                lp[train], time[train], event[train]
            )
            fold_lp.setdefault(k, []).append(lp)
    best = int(np.argmax(full))
    ridge_c, xgb_c = [], []
    for (train, test), lp in zip(folds, fold_lp[best]):
        ridge_c.append(harrell_c(time[test], event[test], lp[test]))
        trees = XGBCox(random_state=seed).fit(X.iloc[train], time[train], event[train])
        xgb_c.append(harrell_c(time[test], event[test], trees.linear_predictor(X.iloc[test])))
    diff = np.subtract(xgb_c, ridge_c)
    j = len(diff)
    # Nadeau-Bengio: var(mean) = (1/J + n_test/n_train) * s^2.
    se = np.sqrt((1 / j + 1 / (FOLDS - 1)) * diff.var(ddof=1))
    half = stats.t.ppf(0.975, j - 1) * se
    lo, hi = float(diff.mean() - half), float(diff.mean() + half)
    if lo > 0:
        family = "xgb_cox"
        reason = (
            f"trees' held-out Harrell C exceeds the ridge Cox model's by "
            f"{diff.mean():+.4f} (95% CI {lo:+.4f} to {hi:+.4f})"
        )
    else:
        family = "cox_ridge"
        reason = (
            f"trees do not earn their place: held-out Harrell C difference "
            f"{diff.mean():+.4f} (95% CI {lo:+.4f} to {hi:+.4f}) shows no gain; "
            f"ridge penalty {PENALTY_GRID[best]:g} by cross-validated partial likelihood"
        )
    return Choice(
        family,
        float(PENALTY_GRID[best]),
        [float(v) if np.isfinite(v) else None for v in full],
        {"cox_ridge": float(np.mean(ridge_c)), "xgb_cox": float(np.mean(xgb_c))},
        float(diff.mean()),
        (lo, hi),
        reason,
    )


def _choice_events(event: np.ndarray, kind: np.ndarray | None) -> np.ndarray:
    """What the strategy chooses on: relapse events for a two-cause model (NRM censors, as
    in the relapse model itself), PFS events otherwise."""
    if kind is None:
        return event
    return ((np.asarray(event) == 1) & (kind == "progression")).astype(float)


def fit_choice(choice: Choice, X, time, event, seed: int, kind: np.ndarray | None = None):
    """The chosen model refitted on all of (X, time, event): with event types `kind`, the
    two-cause model whose relapse part is the chosen family."""
    if kind is not None:
        return TwoCauseModel.fit(
            relapse_family(choice.family, seed, penalty=choice.penalty), X, time, event, kind
        )
    if choice.family == "xgb_cox":
        return XGBCox(random_state=seed).fit(X, time, event)
    return CoxRidge(alpha=choice.penalty).fit(X, time, event)


def performance(model: RiskModel, X, time, event, weights=None) -> dict[str, float]:
    """The two figures whose optimism is estimated: Harrell's C and the 12-month slope."""
    return figures_of(
        model.linear_predictor(X), model.predict_risk(X)[:, _I12], time, event, weights
    )


def figures_of(lp, risk_12m, time, event, weights=None) -> dict[str, float]:
    """`performance`'s figures from a model's linear predictor and 12-month risk."""
    slope, _ = calibration_slope_intercept(risk_12m, time, event, weights=weights)
    return {"harrell_c": harrell_c(time, event, lp), "calibration_slope_12m": slope}


def _resample_optimism(b: int, seed: int, X, time, event, kind=None) -> dict[str, float]:
    idx = resample_indices(len(time), seed, b)
    Xb, tb, eb = X.iloc[idx].reset_index(drop=True), time[idx], event[idx]
    kb = None if kind is None else kind[idx]
    choice = choose(Xb, tb, _choice_events(eb, kb), seed, groups=idx)
    model = fit_choice(choice, Xb, tb, eb, seed, kb)
    apparent = performance(model, Xb, tb, eb)
    test = performance(model, X, time, event)
    return {k: apparent[k] - test[k] for k in apparent}


def optimism(
    X: pd.DataFrame,
    time: np.ndarray,
    event: np.ndarray,
    apparent: dict,
    *,
    bootstrap: int,
    seed: int,
    progress: bool = False,
    label: str = "",
    n_jobs: int = 1,
    kind: np.ndarray | None = None,
) -> dict:
    """Step 3: Harrell's bootstrap optimism of each figure in `apparent`; the resamples run
    through `training.resampling.run_resamples` (`n_jobs` workers, or the enclosing
    `scheduler`'s), each from its own seed, so any number of workers gives the same figures."""
    draws = run_resamples(
        _resample_optimism,
        bootstrap,
        seed=seed,
        args=(X, time, event, kind),
        n_jobs=n_jobs,
        progress=progress,
        desc=f"{label}: optimism bootstrap",
    )
    out = {"bootstrap": bootstrap, "method": "Harrell's bootstrap (whole strategy repeated)"}
    for key, value in apparent.items():
        o = np.array([d[key] for d in draws])
        out[key] = {
            "apparent": float(value),
            "optimism": float(o.mean()),
            "corrected": float(value - o.mean()),
            "optimism_se": float(o.std(ddof=1) / np.sqrt(len(o))) if len(o) > 1 else None,
        }
    return out


def shrunk_model(
    model,
    factor: float,
    X: pd.DataFrame,
    time: np.ndarray,
    event: np.ndarray,
    kind: np.ndarray | None = None,
):
    """Uniform shrinkage (van Houwelingen and Le Cessie, Stat Med 1990): the ridge Cox
    model's linear predictor times `factor` (the optimism-corrected calibration slope), and
    its baseline re-estimated with the shrunk predictor as offset so that the average risk is
    kept. Of a two-cause model the relapse part is shrunk (the NRM model has a fixed ridge
    penalty and a few dozen events). None for trees: their output has no coefficients to
    scale, and a scaled margin would need its own export."""
    relapse = model.relapse if isinstance(model, TwoCauseModel) else model
    if not isinstance(relapse, CoxRidge):
        return None
    out = copy.deepcopy(relapse)
    out.coef_ = relapse.coef_ * factor
    events = event if kind is None else cause_events(event, kind)[0].astype(float)
    out._fit_baseline(
        out._standardise(X) @ out.coef_, np.asarray(time, float), np.asarray(events), out.anchored
    )
    return TwoCauseModel(out, model.nrm) if isinstance(model, TwoCauseModel) else out


def check_size(time: np.ndarray, event: np.ndarray, landmark: str) -> None:
    """Fewer than `FOLDS` events per fold cannot be cross-validated: say so and what to do."""
    events = int(np.sum(event))
    if events < 10 * FOLDS:
        raise DevelopmentError(
            f"{landmark} landmark: {len(time)} patients with {events} PFS events; developing "
            f"a model needs at least {10 * FOLDS} events ({FOLDS}-fold cross-validation with "
            "10 events a fold). Pool cohorts (`relapse-risk retrain`), or validate and "
            "recalibrate an existing model on this cohort instead (`relapse-risk validate`, "
            "`relapse-risk recalibrate`)"
        )


def develop_landmark(
    cohort: Cohort,
    landmark: str,
    *,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    progress: bool = False,
    shrink: bool = True,
    n_jobs: int = 1,
) -> LandmarkFit:
    """Choose, fit on every patient of the landmark, and measure with optimism correction;
    with `shrink`, shrink a ridge Cox model by its optimism-corrected calibration slope when
    that is below `SHRINK_BELOW` (`shrunk_model`; recorded in `development["shrinkage"]`).
    The bootstrap runs on `n_jobs` workers (`optimism`).

    The figures in `metrics` are apparent (on the development patients themselves); the
    optimism-corrected ones (of the model before shrinkage) are in `development["optimism"]`.
    """
    frame = cohort.frame.loc[landmark_mask(cohort.frame, landmark)]
    X = encode(frame, landmark)
    time = frame[PFS_MONTHS].to_numpy(float)
    event = frame[PFS_EVENT].to_numpy(float)
    check_size(time, event, landmark)
    kind, causes_reason = typed_events(frame)
    choice = choose(X, time, _choice_events(event, kind), seed)
    model = fit_choice(choice, X, time, event, seed, kind)
    apparent = performance(model, X, time, event)
    development = choice.as_dict()
    development["optimism"] = optimism(
        X.reset_index(drop=True),
        time,
        event,
        apparent,
        bootstrap=bootstrap,
        seed=seed,
        progress=progress,
        label=landmark,
        n_jobs=n_jobs,
        kind=kind,
    )
    factor = development["optimism"]["calibration_slope_12m"]["corrected"]
    shrinkage = {
        "factor": float(factor),
        "applied": False,
        "method": "uniform shrinkage of the linear predictor by the optimism-corrected "
        "12-month calibration slope, baseline re-estimated",
    }
    if shrink and factor < SHRINK_BELOW:
        shrunk = shrunk_model(model, factor, X, time, event, kind)
        if shrunk is None:
            shrinkage["reason"] = f"not applied: {choice.family} has no linear predictor to scale"
        else:
            shrinkage.update(
                {
                    "applied": True,
                    "reason": (
                        f"optimism-corrected slope {factor:.2f} < {SHRINK_BELOW}: predictions "
                        "were too extreme for a cohort this size"
                    ),
                    "apparent_before": performance(model, X, time, event),
                    "apparent_after": performance(shrunk, X, time, event),
                }
            )
            model = shrunk
    else:
        shrinkage["reason"] = (
            f"not needed: optimism-corrected slope {factor:.2f}" if shrink else "not asked for"
        )
    development["shrinkage"] = shrinkage
    metrics = {choice.family: evaluate(model, X, time, event, time, event)}
    risk = model.predict_risk(X)[:, _I12]
    thresholds = tuple(float(q) for q in np.quantile(risk, [1 / 3, 2 / 3]))
    return LandmarkFit(
        landmark,
        {choice.family: model},
        metrics,
        choice.family,
        choice.reason,
        len(frame),
        0,
        X,
        time,
        event,
        thresholds,
        development,
        causes_reason=causes_reason,
        event_type_test=event_types(frame),
    )
