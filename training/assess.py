"""`relapse-risk evaluate`: the production model on held-out and shifted cohorts, the cost of
each missing biomarker, and a repeated cross-validated comparison of the model families."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold
from tqdm import tqdm

from features.encode import encode
from features.schema import DAY28, FIELDS_BY_NAME, INFUSION, LANDMARKS
from features.validate import validate_frame
from synthetic.generator import canonical, load_params, simulate
from training.cohort import Cohort, landmark_mask
from training.evaluate import evaluate
from training.train import ROUTINE_FEATURES, candidate_models

HELD_OUT_SEED = 777
SHIFTED_SEED = 778
DROPPABLE = ("tmtv_ml", "tp53_status", "ctdna_d28", "cart_cmax_per_ul", "ldh_u_l")
SUMMARY_KEYS = ("harrell_c", "uno_c", "auc_6m", "auc_12m", "auc_24m", "integrated_brier",
                "calibration_slope_12m", "calibration_intercept_12m")


def shifted_params():
    """A different case-mix: more bridging, more tumour burden (TMTV, LDH), more prior lines."""
    p = load_params()
    return p.with_overrides(
        bridging_logit=p.value("bridging_logit") + 1.0,
        tmtv_log_mean=p.value("tmtv_log_mean") + 0.5,
        ldh_log_ratio_mean=p.value("ldh_log_ratio_mean") + 0.2,
        prior_lines_probabilities=[0.05, 0.30, 0.35, 0.20, 0.07, 0.03])


def evaluation_cohort(n: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    params = shifted_params() if shifted else None
    return validate_frame(canonical(simulate(n, seed, params)), require_outcomes=True,
                          nan_is_missing=True).frame


def assess_model(scoring_model, frame: pd.DataFrame) -> dict[str, dict]:
    """Metrics of each landmark's served graph on a cohort (censoring estimated on it)."""
    out = {}
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        model = scoring_model.landmarks[lm]
        t, e = part["pfs_months"].to_numpy(float), part["pfs_event"].to_numpy(float)
        out[lm] = evaluate(model, encode(part, lm), t, e, t, e)
    return out


def missing_degradation(scoring_model, frame: pd.DataFrame) -> pd.DataFrame:
    """Uno's C and calibration slope when one biomarker is unknown for everyone."""
    rows = []
    full = assess_model(scoring_model, frame)
    for lm in LANDMARKS:
        rows.append({"landmark": lm, "missing": "(none)", "uno_c": full[lm]["uno_c"],
                     "calibration_slope_12m": full[lm]["calibration_slope_12m"]})
    for name in DROPPABLE:
        blanked = frame.copy()
        blanked[name] = np.nan if blanked[name].dtype.kind == "f" else None
        if name == "ldh_u_l":
            blanked["ldh_uln_u_l"] = np.nan
            blanked["ldh_elevated"] = np.nan
        metrics = assess_model(scoring_model, blanked)
        for lm in LANDMARKS:
            if FIELDS_BY_NAME[name].landmark == DAY28 and lm == INFUSION:
                continue
            rows.append({"landmark": lm, "missing": name, "uno_c": metrics[lm]["uno_c"],
                         "calibration_slope_12m": metrics[lm]["calibration_slope_12m"]})
    return pd.DataFrame(rows)


def cross_validate(cohort: Cohort, folds: int = 5, repeats: int = 2, seed: int = 0,
                   progress: bool = False) -> pd.DataFrame:
    """Repeated stratified K-fold comparison of every family at each landmark."""
    records = []
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    total = folds * repeats * len(LANDMARKS)
    with tqdm(total=total, desc="cross-validation", unit="fold", disable=not progress) as bar:
        for lm in LANDMARKS:
            frame = cohort.frame.loc[landmark_mask(cohort.frame, lm)]
            X = encode(frame, lm)
            t = frame["pfs_months"].to_numpy(float)
            e = frame["pfs_event"].to_numpy(float)
            for fold, (tr, te) in enumerate(splitter.split(X, e)):
                for name, model in candidate_models(seed).items():
                    cols = list(ROUTINE_FEATURES) if name == "cox_base_routine" else list(X.columns)
                    model.fit(X.iloc[tr][cols], t[tr], e[tr])
                    m = evaluate(model, X.iloc[te][cols], t[te], e[te], t[tr], e[tr])
                    records.append({"landmark": lm, "fold": fold, "model": name,
                                    **{k: m[k] for k in SUMMARY_KEYS}})
                bar.update(1)
    return pd.DataFrame(records)


def summarise_cv(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over folds, per landmark and model."""
    grouped = records.groupby(["landmark", "model"])[list(SUMMARY_KEYS)]
    mean, sd = grouped.mean(), grouped.std()
    out = mean.copy()
    for col in SUMMARY_KEYS:
        out[col] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean[col], sd[col])]
    return out.reset_index()


def plots(scoring_model, frame: pd.DataFrame, label: str) -> dict[str, bytes]:
    """Calibration, Kaplan-Meier by risk group and decision curve per landmark (PNG bytes)."""
    from training.report import plot_calibration, plot_decision_curve, plot_km_by_group

    out = {}
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        model = scoring_model.landmarks[lm]
        risk = model.predict_risk(encode(part, lm))[:, 1]
        t, e = part["pfs_months"].to_numpy(float), part["pfs_event"].to_numpy(float)
        title = f"{label}, {lm} landmark ({scoring_model.version})"
        slug = f"{label.split()[0]}_{lm}"
        out[f"{slug}_calibration.png"] = plot_calibration(risk, t, e, title)
        out[f"{slug}_km_by_risk_group.png"] = plot_km_by_group(risk, t, e, model.thresholds_12m,
                                                               title)
        out[f"{slug}_decision_curve.png"] = plot_decision_curve(risk, t, e, title)
    return out
