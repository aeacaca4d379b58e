"""Training report and TRIPOD+AI-style model card (Markdown), with PNG plots."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402

from features.schema import FIELDS, HORIZONS_MONTHS  # noqa: E402
from training.cohort import describe_lineage
from training.metrics import net_benefit, observed_risk  # noqa: E402

_METRICS = [
    ("harrell_c", "Harrell C"),
    ("uno_c", "Uno C"),
    ("auc_6m", "AUC 6m"),
    ("auc_12m", "AUC 12m"),
    ("auc_24m", "AUC 24m"),
    ("integrated_brier", "IBS"),
    ("calibration_slope_12m", "cal. slope 12m"),
    ("calibration_intercept_12m", "cal. intercept 12m"),
]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_calibration(risk, time, event, title: str) -> bytes:
    """Mean predicted vs Kaplan-Meier observed 12-month risk, by decile of prediction."""
    order = np.argsort(risk)
    groups = np.array_split(order, 10)
    predicted = [risk[g].mean() for g in groups]
    observed = [observed_risk(time[g], event[g], 12.0) for g in groups]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
    ax.plot(predicted, observed, "o-", label="deciles")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="predicted risk of PFS event by 12 months",
        ylabel="observed (1 - Kaplan-Meier)",
        title=title,
    )
    ax.legend(loc="upper left")
    return _png(fig)


def plot_km_by_group(risk, time, event, thresholds, title: str) -> bytes:
    """Kaplan-Meier PFS curves of the predicted risk groups."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    groups = np.where(
        risk < thresholds[0], "low", np.where(risk < thresholds[1], "intermediate", "high")
    )
    for name in ("low", "intermediate", "high"):
        sel = groups == name
        if sel.sum() > 0:
            KaplanMeierFitter(label=f"{name} (n={sel.sum()})").fit(
                time[sel], event[sel]
            ).plot_survival_function(ax=ax, ci_show=True)
    ax.set(
        xlabel="months from infusion", ylabel="progression-free survival", title=title, ylim=(0, 1)
    )
    return _png(fig)


def plot_decision_curve(risk, time, event, title: str) -> bytes:
    thresholds = np.round(np.arange(0.05, 0.81, 0.05), 2)
    return draw_decision_curve(net_benefit(risk, time, event, thresholds=tuple(thresholds)), title)


def draw_decision_curve(decision: dict, title: str) -> bytes:
    """Net benefit of the model (with its band when `decision` has model_low/model_high),
    of flagging everyone and of flagging no one, against the risk threshold."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    t = decision["thresholds"]
    if "model_low" in decision:
        ax.fill_between(
            t, decision["model_low"], decision["model_high"], alpha=0.25, label="model, 95% CI"
        )
    ax.plot(t, decision["model"], label="model")
    ax.plot(t, decision["treat_all"], label="flag everyone")
    ax.axhline(0, color="grey", lw=1, label="flag no one")
    ax.set(
        xlabel="risk threshold (12 months)",
        ylabel="net benefit",
        title=title,
        ylim=(min(-0.05, min(decision["model"])), max(0.1, max(decision["treat_all"]) + 0.05)),
    )
    ax.legend(fontsize=8)
    return _png(fig)


def _metric_table(metrics: dict) -> str:
    header = "| model | " + " | ".join(label for _, label in _METRICS) + " |"
    lines = [header, "|---" * (len(_METRICS) + 1) + "|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | " + " | ".join(f"{m[key]:.3f}" for key, _ in _METRICS) + " |")
    return "\n".join(lines)


def _how_measured(fit) -> str:
    if fit.development is None:
        return f"Trained on {fit.n_train} patients, evaluated on {fit.n_test} held-out patients."
    return (
        f"Developed on all {fit.n_train} patients of the landmark (no hold-out); the "
        "figures in the table are **apparent** (measured on those same patients) and "
        "optimistic. The optimism-corrected ones follow it."
    )


def _development_text(fit) -> str:
    """Penalty, family comparison and optimism table of a model developed by resampling."""
    d = fit.development
    if d is None:
        return ""
    o = d["optimism"]
    rows = "\n".join(
        f"| {label} | {o[key]['apparent']:.3f} | {o[key]['optimism']:+.3f} | "
        f"{o[key]['corrected']:.3f} |"
        for key, label in (
            ("harrell_c", "Harrell C"),
            ("calibration_slope_12m", "calibration slope 12m"),
        )
    )
    penalties = ", ".join(
        f"{a:g}: " + ("did not converge" if v is None else f"{v:.1f}")
        for a, v in zip(d["penalty_grid"], d["cv_partial_loglik"])
    )
    lo, hi = d["xgb_minus_ridge_c_ci95"]
    return (
        f"Complexity chosen by {d['folds']}-fold cross-validation: ridge penalty "
        f"**{d['penalty']:g}** (cross-validated partial log-likelihood by penalty: "
        f"{penalties}). Held-out Harrell C: ridge Cox {d['cv_harrell_c']['cox_ridge']:.3f}, "
        f"gradient-boosted trees {d['cv_harrell_c']['xgb_cox']:.3f} (difference "
        f"{d['xgb_minus_ridge_c']:+.4f}, 95% CI {lo:+.4f} to {hi:+.4f}).\n\n"
        f"Optimism ({o['method']}, {o['bootstrap']} resamples):\n\n"
        f"| figure | apparent | optimism | corrected |\n|---|---|---|---|\n{rows}\n\n"
    )


def _cause_text(info: dict) -> str:
    """Relapse and NRM apart: the cause models, and each cause's mean predicted incidence
    against Aalen-Johansen on the patients the figures above are measured on."""
    models = info.get("cause_models", {})
    if "nrm" not in models:
        return f"No models of the two causes: {models.get('absent', 'not fitted')}.\n\n"
    nrm = models["nrm"]
    ratios = ", ".join(
        f"{n} {hr:.2f}" for n, hr in zip(nrm["features"], nrm["hazard_ratio_per_sd"])
    )
    lines = [
        "Relapse and non-relapse mortality: cause-specific Cox models share out each "
        "step's PFS events (NRM hazard ratio per SD: "
        f"{ratios}); relapse = risk - NRM.",
        "",
        "| cause | events | C (Wolbers) | "
        + " | ".join(f"{h:g} months predicted / Aalen-Johansen" for h in HORIZONS_MONTHS)
        + " |",
        "|---|---|---|---|---|---|",
    ]
    for cause, m in (info.get("cause_metrics") or {}).items():
        c = "-" if m["concordance"] is None else f"{m['concordance']:.3f}"
        lines.append(
            f"| {cause} | {m['events']} | {c} | "
            + " | ".join(
                f"{m[f'mean_predicted_{h:g}m']:.3f} / {m[f'observed_{h:g}m']:.3f}"
                for h in HORIZONS_MONTHS
            )
            + " |"
        )
    return "\n".join(lines) + "\n\n"


def build_files(metadata: dict, fits: dict) -> dict[str, bytes]:
    """report.md, model_card.md and plots/*.png for a version."""
    files: dict[str, bytes] = {}
    sections = []
    for lm, fit in fits.items():
        model = fit.models[fit.champion]
        risk = model.predict_risk(fit.X_test)[:, 1]
        t, e = fit.time_test, fit.event_test
        title = f"{lm} landmark, {fit.champion}"
        files[f"plots/{lm}_calibration.png"] = plot_calibration(risk, t, e, title)
        files[f"plots/{lm}_km_by_risk_group.png"] = plot_km_by_group(
            risk, t, e, fit.thresholds_12m, title
        )
        files[f"plots/{lm}_decision_curve.png"] = plot_decision_curve(risk, t, e, title)
        sections.append(
            f"## Landmark: {lm}\n\n{_how_measured(fit)}\n\nChampion: **{fit.champion}** — "
            f"{fit.reason}.\n\n{_metric_table(fit.metrics)}\n\n{_development_text(fit)}"
            f"{_cause_text(metadata['landmarks'][lm])}"
            "Risk groups at 12 months: low < "
            f"{fit.thresholds_12m[0]:.3f} <= intermediate < {fit.thresholds_12m[1]:.3f} <= high "
            "(training tertiles).\n\n"
            f"![calibration](plots/{lm}_calibration.png) "
            f"![km](plots/{lm}_km_by_risk_group.png) "
            f"![decision](plots/{lm}_decision_curve.png)\n"
        )
    cohort = metadata["cohort"]
    report = (
        f"# Training report\n\n{metadata['notice']}\n\nCohort: {cohort.get('source')} "
        f"(n = {cohort.get('n')}, sha256 {cohort.get('sha256', '')[:12]}…); feature schema "
        f"{metadata['schema_version']}.\n\n" + "\n".join(sections)
    )
    files["report.md"] = report.encode()
    files["model_card.md"] = model_card(metadata, fits).encode()
    return files


def _source_text(cohort: dict) -> str:
    if cohort.get("source") == "synthetic":
        return (
            f"Synthetic cohort (n = {cohort.get('n')}) from a mechanistic generator "
            "calibrated to published figures (Multicenter-514 and the biomarker reviews "
            "listed in the evidence table). Adults with relapsed/refractory LBCL infused "
            "with CD19 CAR-T cells. No real patient contributed data."
        )
    return (
        f"A user-supplied cohort ({cohort.get('source')}, n = {cohort.get('n')}, sha256 "
        f"{cohort.get('sha256', '')[:12]}…): its population, inclusion criteria and "
        "follow-up are those of the registry it came from, and should be described here "
        "by whoever publishes this model."
    )


def _data_limitation(cohort: dict) -> str:
    if cohort.get("source") == "synthetic":
        return (
            "- Trained and evaluated on synthetic data only; performance on real registries "
            "is unknown\n  and must be measured before any use. The generator encodes "
            "published associations, some of\n  them from small single-centre studies with "
            "wide confidence intervals."
        )
    return (
        "- Developed on one cohort; its performance elsewhere is unknown until validated "
        "on another\n  population (`relapse-risk validate`)."
    )


def model_card(metadata: dict, fits: dict) -> str:
    """A model card following the TRIPOD+AI items that apply to a synthetic-data model."""
    predictors = "\n".join(
        f"- `{f.name}` ({f.unit or f.kind}; {f.landmark} landmark): {f.description} "
        f"Evidence: {', '.join(f.evidence)}."
        for f in FIELDS
        if f.role == "predictor"
    )
    performance = "\n".join(
        f"- **{lm}**: {fit.champion}; Uno C {fit.metrics[fit.champion]['uno_c']:.3f}, "
        f"time-dependent AUC at 12 months {fit.metrics[fit.champion]['auc_12m']:.3f}, "
        f"integrated Brier {fit.metrics[fit.champion]['integrated_brier']:.3f}, calibration "
        f"slope {fit.metrics[fit.champion]['calibration_slope_12m']:.2f} and intercept "
        f"{fit.metrics[fit.champion]['calibration_intercept_12m']:+.2f} at 12 months "
        + (
            f"(held-out n = {fit.n_test})."
            if fit.development is None
            else f"(apparent, on the n = {fit.n_train} development patients; optimism-corrected "
            f"Harrell C {fit.development['optimism']['harrell_c']['corrected']:.3f} and "
            "calibration slope "
            f"{fit.development['optimism']['calibration_slope_12m']['corrected']:.2f})"
        )
        for lm, fit in fits.items()
    )
    return f"""# Model card

{metadata["notice"]}

## Intended use
Research on relapse/progression risk after CD19-directed CAR-T therapy in large B-cell lymphoma:
method development, registry analyses, teaching. Not for decisions about individual patients.

## Source of data and population
{_source_text(metadata["cohort"])}

Developed on: {"; ".join(describe_lineage(metadata["cohort"]))}.

## Outcome
Progression-free survival from infusion (progression, relapse or death from any cause);
predicted as the probability of an event by 6, 12 and 24 months, split into the cumulative
incidences of relapse/progression and of death without progression (non-relapse mortality)
when the cohort records which ended PFS (`pfs_event_type`).

## Predictors and their evidence
{predictors}

Missing predictors are encoded explicitly (reference value plus a missing indicator); the
response lists which were missing.

## Landmarks
- infusion: everyone, predictors known before infusion.
- day28: patients alive and progression-free at day 28; adds ctDNA at day 28 and CAR-T peak
  expansion; time still measured from infusion.

## Model and performance
{performance}

## Limitations
{_data_limitation(metadata["cohort"])}
- The CAR-T product, IL-6 and CRP are not predictors.
- Calibration holds for the development cohort's case-mix; shifted populations need
  recalibration (`relapse-risk validate`, `relapse-risk recalibrate`).

## Versioning
Feature schema {metadata["schema_version"]} (sha256 {metadata["schema_hash"][:12]}…).
Parent version: {metadata.get("parent_version") or "none"}.
"""


def plot_external_calibration(result, title: str) -> bytes:
    """Observed against predicted risk at 6, 12 and 24 months: the smoothed IPCW curve with
    its bootstrap 95% band, Kaplan-Meier observed risk by decile of prediction, and the
    spread of predictions along the bottom."""
    fig, axes = plt.subplots(1, len(HORIZONS_MONTHS), figsize=(13, 4.4), sharey=True)
    for i, (ax, h) in enumerate(zip(axes, HORIZONS_MONTHS)):
        curve = result.curves[f"{int(h)}m"]
        risk = result.risk[:, i]
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
        ax.fill_between(
            curve["predicted"], curve["low"], curve["high"], alpha=0.25, label="95% CI (bootstrap)"
        )
        ax.plot(curve["predicted"], curve["observed"], lw=2, label="smoothed (IPCW)")
        groups = np.array_split(np.argsort(risk), 10)
        ax.plot(
            [risk[g].mean() for g in groups],
            [observed_risk(result.time[g], result.event[g], h) for g in groups],
            "o",
            ms=4,
            color="black",
            label="deciles (Kaplan-Meier)",
        )
        ax.plot(risk, np.full(len(risk), 0.01), "|", color="grey", alpha=0.3, ms=6)
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel=f"predicted risk by {int(h)} months",
            title=f"{int(h)} months",
        )
        if i == 0:
            ax.set_ylabel("observed risk")
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    return _png(fig)


def plot_risk_distributions(results: dict, development: dict, version: str) -> bytes:
    """Histogram of this cohort's predicted 12-month risk per landmark, with the development
    cohort's median and 10th-90th percentiles marked."""
    fig, axes = plt.subplots(1, len(results), figsize=(10, 3.6), sharey=True)
    for ax, (lm, r) in zip(np.atleast_1d(axes), results.items()):
        ax.hist(r.risk[:, 1], bins=30, range=(0, 1), alpha=0.7, label="this cohort")
        dev = development[lm]
        ax.axvspan(dev["q10"], dev["q90"], color="grey", alpha=0.2, label="development 10-90%")
        ax.axvline(dev["q50"], color="black", lw=1.5, label="development median")
        ax.set(xlabel="predicted risk by 12 months", title=f"{lm} landmark")
    np.atleast_1d(axes)[0].set_ylabel("patients")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"Predicted risk, {version}")
    return _png(fig)
