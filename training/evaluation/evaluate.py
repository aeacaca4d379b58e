"""`relapse-risk evaluate`: the production model on held-out and shifted cohorts, the cost of
each missing biomarker, and a repeated cross-validated comparison of the model families."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold
from tqdm import tqdm

from features.encode import encode
from features.schema import (
    DAY28,
    FIELDS_BY_NAME,
    INFUSION,
    LANDMARKS,
    PFS_EVENT,
    PFS_EVENT_TYPE,
    PFS_MONTHS,
)
from features.validate import validate_frame
from synthetic.generator import canonical, load_params, simulate
from training.cohort import Cohort, landmark_mask
from training.landmark_fit import typed_events
from training.metrics import cause_metrics, evaluate, harrell_c
from training.models import HORIZONS_MONTHS, RiskModel
from training.train import ROUTINE_FEATURES, candidate_models, fit_family

HELD_OUT_SEED = 777
SHIFTED_SEED = 778
DROPPABLE = ("tmtv_ml", "tp53_status", "ctdna_d28", "cart_cmax_per_ul", "ldh_u_l")
SUMMARY_KEYS = (
    "harrell_c",
    "uno_c",
    "auc_6m",
    "auc_12m",
    "auc_24m",
    "integrated_brier",
    "calibration_slope_12m",
    "calibration_intercept_12m",
)


def shifted_params():
    """A different case-mix: more bridging, more tumour burden (TMTV, LDH), more prior lines."""
    p = load_params()
    return p.with_overrides(
        bridging_logit=p.value("bridging_logit") + 1.0,
        tmtv_log_mean=p.value("tmtv_log_mean") + 0.5,
        ldh_log_ratio_mean=p.value("ldh_log_ratio_mean") + 0.2,
        prior_lines_probabilities=[0.05, 0.30, 0.35, 0.20, 0.07, 0.03],
    )


def evaluation_cohort(
    n: int, seed: int, shifted: bool = False, latent: bool = False, missing: bool = True
) -> pd.DataFrame:
    """A validated synthetic cohort; with `latent`, the generator's latent columns too (what
    the oracle needs: `synthetic.oracle`); `missing=False` keeps every predictor recorded."""
    params = shifted_params() if shifted else None
    full = simulate(n, seed, params, missing=missing)
    frame = validate_frame(canonical(full), require_outcomes=True, nan_is_missing=True).frame
    if latent:
        frame = frame.join(full[[c for c in full.columns if c.startswith("_")]])
    return frame


def oracle_comparison(
    model: RiskModel,
    frame: pd.DataFrame,
    landmark: str,
    params=None,
    truth: pd.DataFrame | None = None,
    attainable: pd.DataFrame | None = None,
) -> dict:
    """A model beside the oracle on the same patients (`frame` with latent columns).

    All are judged by the 12-month time-dependent AUC and IPCW Brier score, the criteria the
    oracle's 12-month risk bounds (Harrell's C of the 12-month risk is shown too, but the
    oracle does not maximise it: it is no ceiling); the model also by its mean absolute
    error against the true risks (PFS, relapse and NRM, each horizon). `model` has
    `predict_causes` (fitted or served); `truth`, the oracle's risks of these patients when
    already computed; `attainable`, the attainable oracle's risks
    (`synthetic.oracle.AttainableOracle`), which the model is also measured against.
    """
    from sksurv.metrics import brier_score, cumulative_dynamic_auc
    from sksurv.util import Surv

    from synthetic.oracle import oracle_risks

    truth = oracle_risks(frame, landmark, params) if truth is None else truth
    predicted = model.predict_causes(encode(frame, landmark))
    t, e = frame[PFS_MONTHS].to_numpy(float), frame[PFS_EVENT].to_numpy(float)
    y = Surv.from_arrays(event=e == 1, time=t)
    i12 = HORIZONS_MONTHS.index(12.0)

    keep = t < t.max()  # IPCW figures need times inside the follow-up

    def judged(risk_12m: np.ndarray) -> dict:
        _, brier = brier_score(y, y, 1 - risk_12m, [12.0])
        auc, _ = cumulative_dynamic_auc(y, y[keep], risk_12m[keep], times=[12.0])
        return {
            "harrell_c_12m": harrell_c(t, e, risk_12m),
            "auc_12m": float(auc[0]),
            "brier_12m": float(brier[0]),
        }

    out = {
        "n": int(len(frame)),
        "oracle": judged(truth["risk_12m"].to_numpy()),
        "model": judged(predicted["risk"][:, i12]),
    }
    if attainable is not None:
        bound = attainable["risk_12m"].to_numpy(float)
        out["attainable"] = judged(bound)
        out["attainable"]["mae_to_oracle_12m"] = float(
            np.abs(bound - truth["risk_12m"].to_numpy()).mean()
        )
        out["model"]["mae_attainable_12m"] = float(np.abs(predicted["risk"][:, i12] - bound).mean())
    for kind in ("risk", "relapse", "nrm"):
        for i, h in enumerate(HORIZONS_MONTHS):
            gap = np.abs(predicted[kind][:, i] - truth[f"{kind}_{int(h)}m"].to_numpy())
            out["model"][f"mae_{kind}_{int(h)}m"] = float(gap.mean())
    return out


def assess_model(scoring_model, frame: pd.DataFrame) -> dict[str, dict]:
    """Metrics of each landmark's served graph on a cohort (censoring estimated on it)."""
    out = {}
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        model = scoring_model.landmarks[lm]
        t, e = part[PFS_MONTHS].to_numpy(float), part[PFS_EVENT].to_numpy(float)
        out[lm] = evaluate(model, encode(part, lm), t, e, t, e)
    return out


def cause_report(scoring_model, frame: pd.DataFrame) -> dict[str, dict | None]:
    """Per landmark and cause: mean predicted incidence against Aalen-Johansen at each
    horizon, and Wolbers' competing-risks concordance (None for a version without the causes)."""
    out = {}
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        model = scoring_model.landmarks[lm]
        if not model.has_causes:
            out[lm] = None
            continue
        out[lm] = cause_metrics(
            model.predict_causes(encode(part, lm)),
            part[PFS_MONTHS].to_numpy(float),
            part[PFS_EVENT].to_numpy(float),
            part[PFS_EVENT_TYPE].to_numpy(object),
        )
    return out


def cause_lines(causes: dict, label: str) -> list[str]:
    """Markdown: predicted incidence vs Aalen-Johansen (95% CI) per cause and horizon."""
    lines = [
        f"### Relapse and non-relapse mortality apart ({label} cohort)",
        "",
        "| landmark | cause | events | C (Wolbers) | "
        + " | ".join(f"{int(h)}m predicted / Aalen-Johansen (95% CI)" for h in HORIZONS_MONTHS)
        + " |",
        "|---" * (4 + len(HORIZONS_MONTHS)) + "|",
    ]
    for lm, per_cause in causes.items():
        if per_cause is None:
            lines.append(f"| {lm} | (no model of the causes in this version) |")
            continue
        for cause, m in per_cause.items():
            cells = [
                f"{m[f'mean_predicted_{int(h)}m']:.3f} / {m[f'observed_{int(h)}m']:.3f} "
                f"({m[f'observed_{int(h)}m'] - 1.96 * m[f'observed_se_{int(h)}m']:.3f}-"
                f"{m[f'observed_{int(h)}m'] + 1.96 * m[f'observed_se_{int(h)}m']:.3f})"
                for h in HORIZONS_MONTHS
            ]
            c = "-" if m["concordance"] is None else f"{m['concordance']:.3f}"
            lines.append(f"| {lm} | {cause} | {m['events']} | {c} | " + " | ".join(cells) + " |")
    return lines + [""]


def oracle_report(
    scoring_model, frame: pd.DataFrame, params=None, attainable_n: int = 50_000
) -> dict[str, dict]:
    """Per landmark: the served model beside the full oracle and the attainable one (fitted
    on `attainable_n` fresh patients of the same population, with the registry's
    missingness) on the landmark's patients of `frame` (with latent columns)."""
    from synthetic.oracle import AttainableOracle

    out = {}
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        bound = AttainableOracle(lm, params, n=attainable_n).fit().risks(encode(part, lm))
        out[lm] = oracle_comparison(scoring_model.landmarks[lm], part, lm, params, attainable=bound)
    return out


def oracle_lines(oracle: dict, label: str) -> list[str]:
    """Markdown: the model beside the attainable and the full oracle on the same patients."""
    lines = [
        f"### The model beside the oracle ({label} cohort)",
        "",
        "The full oracle knows each patient's true risks (`synthetic.oracle`): it sees "
        "every predictor's true value, including those the registry left blank. The "
        "attainable oracle is its risk given what was recorded: the bound for any model "
        "of these data. AUC and Brier at 12 months are what the oracle's 12-month risk "
        "bounds; Harrell's C is shown but is no ceiling.",
        "",
        "| landmark | AUC 12m model / attainable / oracle | Brier 12m model / attainable "
        "/ oracle | C 12m model | MAE risk 12m to oracle / attainable | MAE risk 6/24m | "
        "MAE relapse 12m | MAE NRM 12m |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lm, r in oracle.items():
        m, o = r["model"], r["oracle"]
        a = r.get("attainable", {})

        def three(key: str, m=m, a=a, o=o) -> str:
            return " / ".join(f"{x[key]:.3f}" if key in x else "-" for x in (m, a, o))

        att = f"{m['mae_attainable_12m']:.3f}" if "mae_attainable_12m" in m else "-"
        lines.append(
            f"| {lm} | {three('auc_12m')} | {three('brier_12m')} | "
            f"{m['harrell_c_12m']:.3f} | {m['mae_risk_12m']:.3f} / {att} | "
            f"{m['mae_risk_6m']:.3f} / {m['mae_risk_24m']:.3f} | "
            f"{m['mae_relapse_12m']:.3f} | {m['mae_nrm_12m']:.3f} |"
        )
    return lines + [""]


def missing_degradation(scoring_model, frame: pd.DataFrame) -> pd.DataFrame:
    """Uno's C and calibration slope when one biomarker is unknown for everyone."""
    rows = []
    full = assess_model(scoring_model, frame)
    for lm in LANDMARKS:
        rows.append(
            {
                "landmark": lm,
                "missing": "(none)",
                "uno_c": full[lm]["uno_c"],
                "calibration_slope_12m": full[lm]["calibration_slope_12m"],
            }
        )
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
            rows.append(
                {
                    "landmark": lm,
                    "missing": name,
                    "uno_c": metrics[lm]["uno_c"],
                    "calibration_slope_12m": metrics[lm]["calibration_slope_12m"],
                }
            )
    return pd.DataFrame(rows)


def cross_validate(
    cohort: Cohort, folds: int = 5, repeats: int = 2, seed: int = 0, progress: bool = False
) -> pd.DataFrame:
    """Repeated stratified K-fold comparison of every family at each landmark."""
    records = []
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    total = folds * repeats * len(LANDMARKS)
    with tqdm(total=total, desc="cross-validation", unit="fold", disable=not progress) as bar:
        for lm in LANDMARKS:
            frame = cohort.frame.loc[landmark_mask(cohort.frame, lm)]
            X = encode(frame, lm)
            t = frame[PFS_MONTHS].to_numpy(float)
            e = frame[PFS_EVENT].to_numpy(float)
            kind, _ = typed_events(frame)
            for fold, (tr, te) in enumerate(splitter.split(X, e)):
                for name, model in candidate_models(seed, kind is not None).items():
                    cols = list(ROUTINE_FEATURES) if name == "cox_base_routine" else list(X.columns)
                    model = fit_family(
                        name,
                        model,
                        X.iloc[tr][cols],
                        t[tr],
                        e[tr],
                        None if kind is None else kind[tr],
                    )
                    m = evaluate(model, X.iloc[te][cols], t[te], e[te], t[tr], e[tr])
                    records.append(
                        {
                            "landmark": lm,
                            "fold": fold,
                            "model": name,
                            **{k: m[k] for k in SUMMARY_KEYS},
                        }
                    )
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
        t, e = part[PFS_MONTHS].to_numpy(float), part[PFS_EVENT].to_numpy(float)
        title = f"{label}, {lm} landmark ({scoring_model.version})"
        slug = f"{label.split()[0]}_{lm}"
        out[f"{slug}_calibration.png"] = plot_calibration(risk, t, e, title)
        out[f"{slug}_km_by_risk_group.png"] = plot_km_by_group(
            risk, t, e, model.thresholds_12m, title
        )
        out[f"{slug}_decision_curve.png"] = plot_decision_curve(risk, t, e, title)
    return out


def evaluation_report(
    scoring_model,
    *,
    n: int = 20000,
    folds: int = 5,
    repeats: int = 2,
    cv_n: int = 20000,
    attainable_n: int = 50000,
    progress: bool = False,
) -> tuple[dict, str, dict[str, bytes]]:
    """What `relapse-risk evaluate` does: the version on a held-out and a shifted cohort
    (metrics, causes, the oracle and the attainable bound, plots), with one biomarker unknown
    for everyone, and the families compared by repeated cross-validation.

    Returns
    -------
    (report, markdown, plots): the figures as a JSON-able dict, the Markdown page, and the
    PNGs it links to by name.
    """
    from training.cohort import synthetic_cohort

    report: dict = {"version": scoring_model.version}
    lines = [f"# Evaluation of {scoring_model.version}", ""]
    pngs: dict[str, bytes] = {}
    steps = tqdm(total=3, desc="evaluating", unit="step", disable=not progress)
    for label, shifted, seed in (
        ("held-out", False, HELD_OUT_SEED),
        ("shifted case-mix", True, SHIFTED_SEED),
    ):
        steps.set_postfix(cohort=label)
        steps.update(1)
        cohort = evaluation_cohort(n, seed, shifted, latent=True)
        metrics = assess_model(scoring_model, cohort)
        report[label] = metrics
        for name, png in plots(scoring_model, cohort, label).items():
            pngs[name] = png
            lines.append(f"![{name}]({name})")
        lines += [
            f"## {label} cohort (n = {n}, seed {seed})",
            "",
            "| landmark | " + " | ".join(SUMMARY_KEYS) + " | net benefit 12m |",
            "|---" * (len(SUMMARY_KEYS) + 2) + "|",
        ]
        for lm, m in metrics.items():
            nb = ", ".join(
                f"{t:.1f}: {v:+.3f}"
                for t, v in zip(m["net_benefit_12m"]["thresholds"], m["net_benefit_12m"]["model"])
            )
            lines.append(
                f"| {lm} | " + " | ".join(f"{m[k]:.3f}" for k in SUMMARY_KEYS) + f" | {nb} |"
            )
        lines.append("")
        causes = cause_report(scoring_model, cohort)
        report[f"{label}: causes"] = causes
        lines += cause_lines(causes, label)
        oracle = oracle_report(
            scoring_model, cohort, shifted_params() if shifted else None, attainable_n
        )
        report[f"{label}: oracle"] = oracle
        lines += oracle_lines(oracle, label)
    steps.set_postfix(cohort="missing biomarkers")
    steps.update(1)
    steps.close()
    degradation = missing_degradation(scoring_model, evaluation_cohort(n, HELD_OUT_SEED))
    report["missing_predictor"] = degradation.to_dict(orient="records")
    lines += [
        "## When one biomarker is unknown for everyone (held-out cohort)",
        "",
        degradation.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    if repeats:
        records = cross_validate(
            synthetic_cohort(cv_n, HELD_OUT_SEED + 1), folds, repeats, progress=progress
        )
        report["cross_validation"] = records.to_dict(orient="records")
        lines += [
            f"## Repeated cross-validation ({repeats} x {folds}-fold, n = {cv_n})",
            "",
            summarise_cv(records).to_markdown(index=False),
            "",
        ]
    return report, "\n".join(lines) + "\n", pngs
