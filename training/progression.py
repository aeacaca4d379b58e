"""The progression landmark: overall survival from progression after CAR-T failure, the
model families that predict it, and the Post-CAR Prognostic Index scored beside them.

Patients: those whose PFS event is a progression (pfs_event_type "progression"). Outcome:
death from any cause, in months from progression (os_months - pfs_months). Families: the
ridge Cox model and XGBoost's Cox objective of the PFS landmarks, each with the anchored
baseline, fitted on the same 80/20 split and compared on the same held-out patients; the
champion (best held-out Harrell's C; the transparent model wins within `TIE_MARGIN`) is
exported to ONNX like the others. Risks of death by 3, 6 and 12 months: median OS from
progression is 5.5 months in the 13-centre study and PC-PI's high-risk groups die within 1-2
months, so 24 months (the PFS horizon) is past nearly every death and 3 months separates the
groups that matter; 12 months matches DESCAR-T's published 1-year OS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import pcpi
from features.encode import encode
from features.schema import (
    OS_EVENT,
    OS_MONTHS,
    PFS_EVENT,
    PFS_EVENT_TYPE,
    PFS_MONTHS,
    PROGRESSION,
    PROGRESSION_HORIZONS_MONTHS,
)
from training.metrics import harrell_c
from training.models import CoxRidge, XGBCox

# The curve drawn by the calculator: every half month to 24 months from progression.
CURVE_MONTHS = tuple(m / 2 for m in range(49))
TIE_MARGIN = 0.005
# A death recorded on the day of progression has os_months == pfs_months; Cox models need a
# positive time, so such deaths count at a tenth of a day.
MIN_MONTHS = 0.1 / 30.4375
BOOTSTRAP = 200
MIN_EVENTS = 20


class ProgressionDataError(ValueError):
    """Too few progressions with survival after them to develop the progression model."""


def progression_cohort(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows whose PFS event is a progression and whose OS is known, with months from
    progression to death or censoring and the death indicator."""
    kind = frame[PFS_EVENT_TYPE].to_numpy(object) if PFS_EVENT_TYPE in frame else None
    if kind is None:
        raise ProgressionDataError(
            "the cohort has no pfs_event_type: progressions cannot be "
            "told from deaths, so there is no progression landmark"
        )
    who = (
        (frame[PFS_EVENT].to_numpy(float) == 1)
        & (kind == "progression")
        & frame[OS_MONTHS].notna().to_numpy()
        & frame[OS_EVENT].notna().to_numpy()
    )
    part = frame.loc[who]
    time = np.maximum((part[OS_MONTHS] - part[PFS_MONTHS]).to_numpy(float), MIN_MONTHS)
    event = part[OS_EVENT].to_numpy(float)
    if event.sum() < MIN_EVENTS:
        raise ProgressionDataError(
            f"{len(part)} progressions with {int(event.sum())} deaths after them; the "
            f"progression model needs at least {MIN_EVENTS} deaths"
        )
    return part, time, event


def at_horizons(model, horizons=PROGRESSION_HORIZONS_MONTHS):
    """Make a fitted BreslowRisk model's `predict_risk` (and its ONNX export's `risk`) give
    the risks at `horizons` instead of the PFS ones."""
    model.horizon_cumhaz_ = model.cumulative_baseline_hazard(horizons)
    return model


def median_months(survival: np.ndarray, months) -> np.ndarray:
    """First time on `months` at which each survival curve (rows) is at or below one half;
    NaN where it never gets there (median not reached)."""
    below = np.asarray(survival) <= 0.5
    first = np.argmax(below, axis=1)
    return np.where(below.any(axis=1), np.asarray(months, float)[first], np.nan)


def paired_c_bootstrap(
    time, event, scores: dict[str, np.ndarray], seed: int = 0, n: int = BOOTSTRAP
) -> dict:
    """Harrell's C of each score on the same patients, with percentile 95% intervals from
    one paired bootstrap, and the first score minus each other one (paired, same resamples).
    """
    names = list(scores)
    rng = np.random.default_rng(seed)
    point = {k: harrell_c(time, event, s) for k, s in scores.items()}
    draws = {k: [] for k in names}
    for _ in range(n):
        i = rng.integers(0, len(time), len(time))
        for k in names:
            draws[k].append(harrell_c(time[i], event[i], scores[k][i]))
    out = {
        k: {"c": point[k], "ci95": np.quantile(draws[k], [0.025, 0.975]).tolist()} for k in names
    }
    first = names[0]
    for k in names[1:]:
        diff = np.subtract(draws[first], draws[k])
        out[f"{first}_minus_{k}"] = {
            "difference": point[first] - point[k],
            "ci95": np.quantile(diff, [0.025, 0.975]).tolist(),
        }
    return out


def calibration_at(
    predicted_death: np.ndarray, time, event, horizon: float, groups: int = 5
) -> dict:
    """Observed (Kaplan-Meier) vs mean predicted death by `horizon` in quantile groups of
    the prediction, with each group's 95% interval, and calibration-in-the-large."""
    from lifelines import KaplanMeierFitter

    edges = np.quantile(predicted_death, np.linspace(0, 1, groups + 1))
    which = np.clip(np.searchsorted(edges, predicted_death, side="right") - 1, 0, groups - 1)
    rows = []
    for g in range(groups):
        m = which == g
        if m.sum() < 5:
            continue
        km = KaplanMeierFitter().fit(time[m], event[m])
        s = float(km.survival_function_at_times(horizon).iloc[0])
        ci = km.confidence_interval_survival_function_
        band = ci[ci.index <= horizon].iloc[-1]
        rows.append(
            {
                "n": int(m.sum()),
                "predicted": float(predicted_death[m].mean()),
                "observed": 1 - s,
                "observed_ci95": [1 - float(band.iloc[1]), 1 - float(band.iloc[0])],
            }
        )
    km = KaplanMeierFitter().fit(time, event)
    observed = 1 - float(km.survival_function_at_times(horizon).iloc[0])
    return {
        "horizon_months": horizon,
        "groups": rows,
        "observed_overall": observed,
        "predicted_overall": float(np.mean(predicted_death)),
    }


def pcpi_death_risk(points_train, time_train, event_train, points, horizon: float) -> np.ndarray:
    """PC-PI as a risk: each group's Kaplan-Meier death risk by `horizon` on the training
    patients (the index's published groups carry no absolute risks of their own)."""
    from lifelines import KaplanMeierFitter

    groups_train, groups = pcpi.group(points_train), pcpi.group(points)
    out = np.full(len(points), np.nan)
    for name in pcpi.GROUP_NAMES:
        m = groups_train == name
        if m.sum() == 0:
            continue
        km = KaplanMeierFitter().fit(time_train[m], event_train[m])
        out[groups == name] = 1 - float(km.survival_function_at_times(horizon).iloc[0])
    return out


@dataclass
class ProgressionFit:
    models: dict
    metrics: dict
    champion: str
    reason: str
    n_train: int
    n_test: int
    X_test: pd.DataFrame = field(repr=False)
    time_test: np.ndarray = field(repr=False)
    event_test: np.ndarray = field(repr=False)
    thresholds_6m: tuple[float, float]
    comparison: dict
    population_os: dict


def _km_os(time, event) -> dict:
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(time, event)
    surv = km.survival_function_at_times(CURVE_MONTHS).to_numpy()
    return {
        "months": list(CURVE_MONTHS),
        "alive": [round(float(s), 5) for s in surv],
        "median_months": float(km.median_survival_time_),
    }


def fit_progression(cohort_frame: pd.DataFrame, seed: int = 0) -> ProgressionFit:
    """Fit both families on one 80/20 split of the progressing patients, evaluate them and
    PC-PI on the held-out ones (PC-PI where its five factors are known, the model on the
    same patients), and choose the champion."""
    from sklearn.model_selection import train_test_split

    part, time, event = progression_cohort(cohort_frame)
    X = encode(part, PROGRESSION)
    idx_train, idx_test = train_test_split(
        np.arange(len(part)), test_size=0.2, random_state=seed, stratify=event
    )
    families = {"cox_ridge": CoxRidge(alpha=1.0), "xgb_cox": XGBCox(random_state=seed)}
    fitted, metrics = {}, {}
    for name, model in families.items():
        model = at_horizons(model.fit(X.iloc[idx_train], time[idx_train], event[idx_train]))
        fitted[name] = model
        lp = model.linear_predictor(X.iloc[idx_test])
        metrics[name] = {"harrell_c": harrell_c(time[idx_test], event[idx_test], lp)}
    best = max(fitted, key=lambda m: metrics[m]["harrell_c"])
    gap = metrics[best]["harrell_c"] - metrics["cox_ridge"]["harrell_c"]
    if best != "cox_ridge" and gap < TIE_MARGIN:
        champion, reason = (
            "cox_ridge",
            (
                f"xgb_cox leads held-out Harrell's C by {gap:.4f} < "
                f"{TIE_MARGIN}: the transparent model is preferred"
            ),
        )
    else:
        champion, reason = (
            best,
            (f"highest held-out Harrell's C ({metrics[best]['harrell_c']:.4f}; margin {gap:+.4f})"),
        )
    model = fitted[champion]
    points = pcpi.score(part)
    known = ~np.isnan(points[idx_test])
    test = idx_test[known]
    lp = model.linear_predictor(X.iloc[test])
    comparison = paired_c_bootstrap(
        time[test], event[test], {"model": lp, "pcpi": points[test]}, seed=seed
    )
    risk = model.predict_risk(X.iloc[test])
    train_known = idx_train[~np.isnan(points[idx_train])]
    comparison["n_test_pcpi_known"] = int(known.sum())
    comparison["pcpi_assumption"] = pcpi.ASSUMPTION
    comparison["calibration"] = {
        f"{int(h)}m": {
            "model": calibration_at(risk[:, i], time[test], event[test], h),
            "pcpi": calibration_at(
                pcpi_death_risk(
                    points[train_known], time[train_known], event[train_known], points[test], h
                ),
                time[test],
                event[test],
                h,
                groups=4,
            ),
        }
        for i, h in enumerate(PROGRESSION_HORIZONS_MONTHS)
    }
    train_risk = model.predict_risk(X.iloc[idx_train])[:, 1]
    thresholds = tuple(float(q) for q in np.quantile(train_risk, [1 / 3, 2 / 3]))
    return ProgressionFit(
        fitted,
        metrics,
        champion,
        reason,
        len(idx_train),
        len(idx_test),
        X.iloc[idx_test],
        time[idx_test],
        event[idx_test],
        thresholds,
        comparison,
        _km_os(time, event),
    )


def progression_metadata(fit: ProgressionFit, artifact: str, parity: float) -> dict:
    """What a version records about its progression model (JSON-able)."""
    model = fit.models[fit.champion]
    grid = np.asarray(CURVE_MONTHS)
    return {
        "family": fit.champion,
        "champion_reason": fit.reason,
        "artifact": artifact,
        "feature_names": list(model.feature_names_),
        "outcome": "os_from_progression",
        "horizons_months": list(PROGRESSION_HORIZONS_MONTHS),
        "risk_group_thresholds_6m": list(fit.thresholds_6m),
        "baseline": {
            "months": grid.tolist(),
            "cumhaz": model.cumulative_baseline_hazard(grid).tolist(),
        },
        "population_os": fit.population_os,
        "onnx_parity_max_abs": parity,
        "n_train": fit.n_train,
        "n_test": fit.n_test,
        "metrics": fit.metrics,
        "pcpi_comparison": fit.comparison,
        "development": {"strategy": "holdout", "test_fraction": 0.2},
    }
