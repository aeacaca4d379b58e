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
from features.schema import (
    LANDMARKS,
    PFS_EVENT,
    PFS_MONTHS,
    RESEARCH_USE_NOTICE,
    SCHEMA_VERSION,
    schema_hash,
)
from model_registry.metadata import LandmarkInfo, VersionMetadata
from model_registry.registry import Registry
from training.cohort import Cohort, landmark_mask
from training.develop import DEFAULT_BOOTSTRAP
from training.export.onnx_export import check_outcome_parity, check_parity, outcome_to_onnx, to_onnx
from training.landmark_fit import LandmarkFit, event_types, typed_events
from training.metrics import evaluate
from training.models import HORIZONS_MONTHS, CoxRidge, RidgeXGB, XGBCox
from training.outcome import (
    GRID_MONTHS,
    GRID_STEP_MONTHS,
    RELAPSE_FAMILIES,
    TwoCauseModel,
    relapse_family,
)

# Families are compared by the held-out 12-month Brier score (a proper scoring rule, which the
# oracle's risk minimises); the transparent model wins near-ties.
BRIER_TIE_MARGIN = 0.0005
TIE_MARGIN = 0.005  # PFS-only versions (cohorts without event types): by Uno's C as before
EXPORTABLE = RELAPSE_FAMILIES
ROUTINE_FEATURES = (
    "ldh_elevated",
    "ldh_missing",
    "aaipi",
    "aaipi_missing",
    "prior_lines",
    "prior_lines_missing",
    "bridging_any",
)
BASELINE_GRID_MONTHS = np.round(np.arange(0.0, 30.0 + 1e-9, 0.5), 1)


def candidate_models(seed: int, two_cause: bool = True) -> dict:
    """The model families compared at each landmark (fresh, unfitted).

    With `two_cause` (the cohort records each event's cause) the exportable families are
    relapse models, fitted inside `TwoCauseModel` with the NRM model; the two references (a
    near-unpenalised Cox model and one of routine predictors only) stay PFS models. Without,
    every family is a PFS model (a Kaplan-Meier-anchored baseline).
    """
    references = {"cox_plain": CoxRidge(alpha=1e-4), "cox_base_routine": CoxRidge(alpha=1e-4)}
    if two_cause:
        return {**{name: relapse_family(name, seed) for name in RELAPSE_FAMILIES}, **references}
    return {"cox_ridge": CoxRidge(alpha=1.0), "xgb_cox": XGBCox(random_state=seed), **references}


def choose_champion(metrics: dict[str, dict], two_cause: bool = False) -> tuple[str, str]:
    """The exportable family with the lowest held-out 12-month Brier score (two-cause
    families), or the highest Uno's C (PFS-only); the transparent one wins near-ties."""
    present = [m for m in EXPORTABLE if m in metrics]
    if present and two_cause:
        return _choose_by_brier(metrics, present)
    if not present:
        raise ValueError(f"no exportable model among {sorted(metrics)}")
    best = max(present, key=lambda m: metrics[m]["uno_c"])
    if "cox_ridge" not in metrics:
        return best, f"the only exportable family fitted (Uno's C {metrics[best]['uno_c']:.4f})"
    gap = metrics[best]["uno_c"] - metrics["cox_ridge"]["uno_c"]
    if best != "cox_ridge" and gap < TIE_MARGIN:
        return "cox_ridge", (
            f"xgb_cox leads Uno's C by {gap:.4f} < {TIE_MARGIN}: the transparent model is preferred"
        )
    return best, f"highest Uno's C ({metrics[best]['uno_c']:.4f}); margin {gap:+.4f}"


def _choose_by_brier(metrics: dict[str, dict], present: list[str]) -> tuple[str, str]:
    best = min(present, key=lambda m: metrics[m]["brier_12m"])
    figures = "; ".join(
        f"{m} Brier {metrics[m]['brier_12m']:.4f}, AUC {metrics[m]['auc_12m']:.3f}" for m in present
    )
    if best != "cox_ridge" and "cox_ridge" in metrics:
        gap = metrics["cox_ridge"]["brier_12m"] - metrics[best]["brier_12m"]
        if gap < BRIER_TIE_MARGIN:
            return "cox_ridge", (
                f"{best} leads the 12-month Brier score by {gap:.4f} < "
                f"{BRIER_TIE_MARGIN}: the transparent model is preferred "
                f"(held out: {figures})"
            )
    return best, f"lowest held-out 12-month Brier score ({figures})"


def fit_family(
    name: str, model, X: pd.DataFrame, time: np.ndarray, event: np.ndarray, kind: np.ndarray | None
):
    """Fit one of `candidate_models`: inside the two-cause model when `kind` (the events'
    causes) is given and the family is a relapse family, else as a PFS model."""
    if kind is not None and name in RELAPSE_FAMILIES:
        return TwoCauseModel.fit(model, X, time, event, kind)
    return model.fit(X, time, event)


def split_indices(n: int, event: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The reproducible 80/20 train/test split, stratified by event."""
    return train_test_split(np.arange(n), test_size=0.2, random_state=seed, stratify=event)


def fit_landmark(
    cohort: Cohort,
    landmark: str,
    seed: int,
    progress: bool = False,
    families: dict | None = None,
    select_on: pd.Index | None = None,
) -> LandmarkFit:
    """Fit every family on one split of the landmark's patients and evaluate them.

    `select_on`: row keys of the test split that the families are evaluated and the champion
    chosen on (the rest of the test split is left untouched, for a gate); default all of it.
    """
    frame = cohort.frame.loc[landmark_mask(cohort.frame, landmark)]
    X = encode(frame, landmark)
    time = frame[PFS_MONTHS].to_numpy(float)
    event = frame[PFS_EVENT].to_numpy(float)
    idx_train, idx_test = split_indices(len(frame), event, seed)
    if select_on is not None:
        chosen = np.flatnonzero(frame.index.isin(select_on))
        if not np.isin(chosen, idx_test).all():
            raise ValueError("select_on must name rows of the test split only")
        idx_test = chosen
    kind, causes_reason = typed_events(frame)
    families = families or candidate_models(seed, two_cause=kind is not None)
    fitted, metrics = {}, {}
    bar = tqdm(families.items(), desc=f"{landmark}: fitting", disable=not progress, unit="model")
    for name, model in bar:
        bar.set_postfix(model=name)
        cols = list(ROUTINE_FEATURES) if name == "cox_base_routine" else list(X.columns)
        Xtr, Xte = X.iloc[idx_train][cols], X.iloc[idx_test][cols]
        model = fit_family(
            name,
            model,
            Xtr,
            time[idx_train],
            event[idx_train],
            None if kind is None else kind[idx_train],
        )
        fitted[name] = model
        metrics[name] = evaluate(
            model, Xte, time[idx_test], event[idx_test], time[idx_train], event[idx_train]
        )
    champion, reason = choose_champion(metrics, two_cause=kind is not None)
    train_risk = fitted[champion].predict_risk(X.iloc[idx_train])[:, 1]
    thresholds = tuple(float(q) for q in np.quantile(train_risk, [1 / 3, 2 / 3]))
    return LandmarkFit(
        landmark,
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
        causes_reason=causes_reason,
        event_type_test=event_types(frame.iloc[idx_test]),
    )


def train_version(
    cohort: Cohort,
    registry: Registry,
    *,
    seed: int = 0,
    parent_version: str | None = None,
    progress: bool = False,
    landmark_fits: dict[str, LandmarkFit] | None = None,
    extra_metadata: dict | None = None,
    progression: bool = True,
) -> tuple[str, dict]:
    """Train both PFS landmarks, export the champions, write the report and register a
    candidate; with `progression`, the progression landmark's model too (metadata key
    "progression": the model, or why there is none).

    Returns
    -------
    (version, fits)
    """
    from training.report import build_files  # matplotlib only when writing a report

    fits = landmark_fits or {lm: fit_landmark(cohort, lm, seed, progress) for lm in LANDMARKS}
    artifacts, landmarks = {}, {}
    for lm, fit in fits.items():
        model = fit.models[fit.champion]
        if isinstance(model, TwoCauseModel):
            proto = outcome_to_onnx(model)
            parity = check_outcome_parity(model, proto, fit.X_test)
        else:
            proto = to_onnx(model)
            parity = check_parity(model, proto, fit.X_test)
        name = f"{lm}.onnx"
        artifacts[name] = proto.SerializeToString()
        landmarks[lm]: LandmarkInfo = {
            "family": fit.champion,
            "champion_reason": fit.reason,
            "artifact": name,
            "feature_names": list(model.feature_names_),
            "horizons_months": HORIZONS_MONTHS,
            "risk_group_thresholds_12m": list(fit.thresholds_12m),
            "outcome": "two_cause" if isinstance(model, TwoCauseModel) else "pfs",
            "curve_grid": (
                {"step_months": GRID_STEP_MONTHS, "last_months": float(GRID_MONTHS[-1])}
                if isinstance(model, TwoCauseModel)
                else None
            ),
            "baseline": _baseline(model),
            "population_pfs": _km_curve(cohort.frame.loc[landmark_mask(cohort.frame, lm)]),
            "onnx_parity_max_abs": parity,
            "n_train": fit.n_train,
            "n_test": fit.n_test,
            "metrics": _jsonable(fit.metrics),
            "development": _jsonable(
                fit.development or {"strategy": "holdout", "test_fraction": 0.2, "seed": seed}
            ),
            "cause_models": (
                model.describe()
                if isinstance(model, TwoCauseModel)
                else {"absent": fit.causes_reason}
            ),
            "cause_metrics": _jsonable(_cause_metrics(fit, model)),
            "contributions": _contributions_text(model),
        }
    if progression:
        info, artifact = _progression(cohort, seed)
        artifacts.update(artifact)
    else:
        info = {"absent": "not trained (progression=False)"}
    metadata: VersionMetadata = {
        "schema_version": SCHEMA_VERSION,
        "schema_hash": schema_hash(),
        "progression": info,
        "cohort": cohort.description,
        "landmarks": landmarks,
        "parent_version": parent_version,
        "champions": {lm: info["family"] for lm, info in landmarks.items()},
        "notice": RESEARCH_USE_NOTICE,
        "seed": seed,
        **_jsonable(extra_metadata or {}),
    }
    files = build_files(metadata, fits)
    version = registry.register(artifacts, metadata, files)
    return version, fits


def develop_version(
    cohort: Cohort,
    registry: Registry,
    *,
    strategy: str = "auto",
    bootstrap: int = DEFAULT_BOOTSTRAP,
    assess_size: bool = False,
    stages=None,
    say=lambda line: None,
    n_jobs: int = 1,
) -> tuple[str, dict]:
    """What `relapse-risk train` does: choose the strategy for the cohort's size
    (`training.choices.resolve_strategy`), develop each PFS landmark by resampling or fit the
    families on a hold-out, then export and register a candidate. With `assess_size`, Riley
    et al.'s minimum sample size is checked per landmark first, said, and recorded. `say`
    receives the lines a user should read before the long work; the optimism bootstrap runs
    on `n_jobs` workers (or an enclosing `training.resampling.scheduler`'s).

    Returns
    -------
    (version, fits)
    """
    from training.choices import resolve_strategy
    from training.develop import develop_landmark
    from training.progress import Stages

    stages = stages or Stages("train", quiet=True)
    extra = None
    if assess_size:
        from training.samplesize import advice, assess_cohort

        sizes = assess_cohort(cohort.frame)
        for lm, (n_patients, size) in sizes.items():
            say(advice(lm, n_patients, size))
        extra = {"sample_size": {lm: size.as_dict() for lm, (_, size) in sizes.items()}}
    fits = None
    if resolve_strategy(strategy, len(cohort.frame)) == "resampling":
        say(
            f"{len(cohort.frame)} patients: developing by resampling ({bootstrap} bootstrap "
            "resamples per landmark)"
        )
        fits = {}
        for lm in LANDMARKS:
            with stages.stage(f"{lm}: develop by resampling"):
                fits[lm] = develop_landmark(
                    cohort, lm, bootstrap=bootstrap, progress=stages.bars, n_jobs=n_jobs
                )
    with stages.stage("fit, export and register" if fits is None else "export and register"):
        return train_version(
            cohort, registry, progress=stages.bars, landmark_fits=fits, extra_metadata=extra
        )


def fit_summary(landmark: str, fit: LandmarkFit) -> str:
    """One line on a landmark's champion: held-out figures, or apparent and
    optimism-corrected ones when it was developed by resampling."""
    m = fit.metrics[fit.champion]
    if fit.development is None:
        return (
            f"{landmark:9} champion {fit.champion:9}  Uno C {m['uno_c']:.3f}  "
            f"AUC12 {m['auc_12m']:.3f}  IBS {m['integrated_brier']:.3f}  "
            f"slope12 {m['calibration_slope_12m']:.2f}  ({fit.reason})"
        )
    o = fit.development["optimism"]
    return (
        f"{landmark:9} {fit.champion:9} on {fit.n_train} patients  Harrell C "
        f"{o['harrell_c']['apparent']:.3f} apparent, "
        f"{o['harrell_c']['corrected']:.3f} optimism-corrected  slope12 "
        f"{o['calibration_slope_12m']['apparent']:.2f} apparent, "
        f"{o['calibration_slope_12m']['corrected']:.2f} corrected  ({fit.reason})"
    )


def _progression(cohort: Cohort, seed: int) -> tuple[dict, dict[str, bytes]]:
    """The progression landmark's model (OS from progression) exported and checked, or why
    the cohort has none."""
    from training.progression import ProgressionDataError, fit_progression, progression_metadata

    try:
        fit = fit_progression(cohort.frame, seed)
    except ProgressionDataError as exc:
        return {"absent": str(exc)}, {}
    model = fit.models[fit.champion]
    proto = to_onnx(model)
    parity = check_parity(model, proto, fit.X_test)
    name = "progression.onnx"
    return _jsonable(progression_metadata(fit, name, parity)), {name: proto.SerializeToString()}


def _cause_metrics(fit: LandmarkFit, model) -> dict | None:
    """Per-cause calibration and discrimination of the exported model on the held-out
    patients (the development patients when developed by resampling)."""
    from training.metrics import cause_metrics

    if not isinstance(model, TwoCauseModel) or fit.event_type_test is None:
        return None
    causes = model.predict_causes(fit.X_test)
    return cause_metrics(causes, fit.time_test, fit.event_test, fit.event_type_test)


def _baseline(model) -> dict | None:
    """A PFS model's baseline cumulative hazard on the curve grid (the calculator's curve for
    versions without curves in their graph); None for a two-cause model, whose graph returns
    each patient's curves."""
    if isinstance(model, TwoCauseModel):
        return None
    return {
        "months": BASELINE_GRID_MONTHS.tolist(),
        "cumhaz": model.cumulative_baseline_hazard(BASELINE_GRID_MONTHS).tolist(),
    }


def _contributions_text(model) -> str:
    relapse = model.relapse if isinstance(model, TwoCauseModel) else model
    if isinstance(relapse, CoxRidge):
        return "exact: coefficient x standardised value (log relapse hazard)"
    if isinstance(relapse, XGBCox):
        return "Saabas path attribution (XGBoost approx_contribs) of the log relapse hazard"
    if isinstance(relapse, RidgeXGB):
        return (
            "the ridge Cox terms plus the trees' Saabas path attribution of the log relapse "
            "hazard (the trees' part on the ridge index shared by the size of each ridge term)"
        )
    return (
        "exact: coefficient x standardised value, on the log-odds of not being cured "
        "(the mixture-cure model's incidence part)"
    )


def _km_curve(frame: pd.DataFrame) -> dict:
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(
        frame[PFS_MONTHS].to_numpy(float), frame[PFS_EVENT].to_numpy(float)
    )
    surv = km.survival_function_at_times(BASELINE_GRID_MONTHS).to_numpy()
    return {"months": BASELINE_GRID_MONTHS.tolist(), "pfs": [round(float(s), 5) for s in surv]}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=float))
