"""Fit, compare and export one model per landmark, then register the version (`relapse-risk
train`: the hold-out strategy here, the resampling one in `training.develop`).

Per landmark: a transparent Cox model (ridge), XGBoost with the Cox objective, a plain Cox
reference and a base Cox model of routine predictors only, all fitted on the same split and
evaluated on the same held-out patients. The champion (best Uno's C; the transparent model
wins ties within `TIE_MARGIN`) is exported to ONNX, checked for parity, and registered.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from features.encode import encode
from features.schema import LANDMARKS, RESEARCH_USE_NOTICE, SCHEMA_VERSION, schema_hash
from model_registry.registry import Registry
from training.cohort import Cohort, landmark_mask
from training.export.onnx_export import check_parity, to_onnx
from training.landmark_fit import LandmarkFit, cause_models_for, event_types
from training.metrics import evaluate
from training.models import HORIZONS_MONTHS, CompetingRisks, CoxRidge, XGBCox

TIE_MARGIN = 0.005
EXPORTABLE = ("cox_ridge", "xgb_cox")
ROUTINE_FEATURES = ("ldh_elevated", "ldh_missing", "aaipi", "aaipi_missing", "prior_lines",
                    "prior_lines_missing", "bridging_any")
BASELINE_GRID_MONTHS = np.round(np.arange(0.0, 30.0 + 1e-9, 0.5), 1)


def candidate_models(seed: int) -> dict:
    """The model families compared at each landmark (fresh, unfitted)."""
    return {
        "cox_ridge": CoxRidge(alpha=1.0),
        "xgb_cox": XGBCox(random_state=seed),
        "cox_plain": CoxRidge(alpha=1e-4),
        "cox_base_routine": CoxRidge(alpha=1e-4),
    }


def choose_champion(metrics: dict[str, dict]) -> tuple[str, str]:
    """Best Uno's C among exportable families; the transparent one wins near-ties."""
    present = [m for m in EXPORTABLE if m in metrics]
    if not present:
        raise ValueError(f"no exportable model among {sorted(metrics)}")
    best = max(present, key=lambda m: metrics[m]["uno_c"])
    if "cox_ridge" not in metrics:
        return best, f"the only exportable family fitted (Uno's C {metrics[best]['uno_c']:.4f})"
    gap = metrics[best]["uno_c"] - metrics["cox_ridge"]["uno_c"]
    if best != "cox_ridge" and gap < TIE_MARGIN:
        return "cox_ridge", (f"xgb_cox leads Uno's C by {gap:.4f} < {TIE_MARGIN}: the "
                             "transparent model is preferred")
    return best, f"highest Uno's C ({metrics[best]['uno_c']:.4f}); margin {gap:+.4f}"


def split_indices(n: int, event: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The reproducible 80/20 train/test split, stratified by event."""
    return train_test_split(np.arange(n), test_size=0.2, random_state=seed, stratify=event)


def fit_landmark(cohort: Cohort, landmark: str, seed: int, progress: bool = False,
                 families: dict | None = None) -> LandmarkFit:
    """Fit every family on one split of the landmark's patients and evaluate them."""
    frame = cohort.frame.loc[landmark_mask(cohort.frame, landmark)]
    X = encode(frame, landmark)
    time = frame["pfs_months"].to_numpy(float)
    event = frame["pfs_event"].to_numpy(float)
    idx_train, idx_test = split_indices(len(frame), event, seed)
    families = families or candidate_models(seed)
    fitted, metrics = {}, {}
    bar = tqdm(families.items(), desc=f"{landmark}: fitting", disable=not progress,
               unit="model")
    for name, model in bar:
        bar.set_postfix(model=name)
        cols = list(ROUTINE_FEATURES) if name == "cox_base_routine" else list(X.columns)
        Xtr, Xte = X.iloc[idx_train][cols], X.iloc[idx_test][cols]
        fitted[name] = model.fit(Xtr, time[idx_train], event[idx_train])
        metrics[name] = evaluate(model, Xte, time[idx_test], event[idx_test],
                                 time[idx_train], event[idx_train])
    champion, reason = choose_champion(metrics)
    train_risk = fitted[champion].predict_risk(X.iloc[idx_train])[:, 1]
    thresholds = tuple(float(q) for q in np.quantile(train_risk, [1 / 3, 2 / 3]))
    causes, causes_reason = cause_models_for(frame.iloc[idx_train], X.iloc[idx_train])
    return LandmarkFit(landmark, fitted, metrics, champion, reason, len(idx_train),
                       len(idx_test), X.iloc[idx_test], time[idx_test], event[idx_test],
                       thresholds, causes=causes, causes_reason=causes_reason,
                       event_type_test=event_types(frame.iloc[idx_test]))


def train_version(cohort: Cohort, registry: Registry, *, seed: int = 0,
                  parent_version: str | None = None, progress: bool = False,
                  landmark_fits: dict[str, LandmarkFit] | None = None,
                  extra_metadata: dict | None = None) -> tuple[str, dict]:
    """Train both landmarks, export the champions, write the report and register a candidate.

    Returns
    -------
    (version, fits)
    """
    from training.report import build_files  # matplotlib only when writing a report

    fits = landmark_fits or {lm: fit_landmark(cohort, lm, seed, progress) for lm in LANDMARKS}
    artifacts, landmarks = {}, {}
    for lm, fit in fits.items():
        model = fit.models[fit.champion]
        proto = to_onnx(model, fit.causes)
        parity = check_parity(model, proto, fit.X_test, causes=fit.causes)
        name = f"{lm}.onnx"
        artifacts[name] = proto.SerializeToString()
        landmarks[lm] = {
            "family": fit.champion, "champion_reason": fit.reason, "artifact": name,
            "feature_names": list(model.feature_names_), "horizons_months": HORIZONS_MONTHS,
            "risk_group_thresholds_12m": list(fit.thresholds_12m),
            "baseline": {"months": BASELINE_GRID_MONTHS.tolist(),
                         "cumhaz": model.cumulative_baseline_hazard(BASELINE_GRID_MONTHS)
                         .tolist()},
            "population_pfs": _km_curve(cohort.frame.loc[landmark_mask(cohort.frame, lm)]),
            "onnx_parity_max_abs": parity, "n_train": fit.n_train, "n_test": fit.n_test,
            "metrics": _jsonable(fit.metrics),
            "development": _jsonable(fit.development or {
                "strategy": "holdout", "test_fraction": 0.2, "seed": seed}),
            "cause_models": (fit.causes.describe() if fit.causes is not None
                             else {"absent": fit.causes_reason}),
            "cause_metrics": _jsonable(_cause_metrics(fit, model)),
            "contributions": ("exact: coefficient x standardised value" if isinstance(
                model, CoxRidge) else "Saabas path attribution (XGBoost approx_contribs)"),
        }
    metadata = {
        "schema_version": SCHEMA_VERSION, "schema_hash": schema_hash(),
        "cohort": cohort.description, "landmarks": landmarks, "parent_version": parent_version,
        "champions": {lm: info["family"] for lm, info in landmarks.items()},
        "notice": RESEARCH_USE_NOTICE, "seed": seed, **_jsonable(extra_metadata or {}),
    }
    files = build_files(metadata, fits)
    version = registry.register(artifacts, metadata, files)
    return version, fits


def _cause_metrics(fit: LandmarkFit, model) -> dict | None:
    """Per-cause calibration and discrimination of the exported model on the held-out
    patients (the development patients when developed by resampling)."""
    from training.metrics import cause_metrics

    if fit.causes is None or fit.event_type_test is None:
        return None
    causes = CompetingRisks(model, fit.causes).predict_causes(fit.X_test)
    return cause_metrics(causes, fit.time_test, fit.event_test, fit.event_type_test)


def _km_curve(frame: pd.DataFrame) -> dict:
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(frame["pfs_months"].to_numpy(float),
                                 frame["pfs_event"].to_numpy(float))
    surv = km.survival_function_at_times(BASELINE_GRID_MONTHS).to_numpy()
    return {"months": BASELINE_GRID_MONTHS.tolist(), "pfs": [round(float(s), 5) for s in surv]}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=float))
