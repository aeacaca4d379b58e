"""External validation of a registered model on a user's cohort with outcomes (`relapse-risk
validate`).

Per landmark: discrimination (Harrell's and Uno's C, time-dependent AUC), calibration at 6, 12
and 24 months (IPCW slope and intercept, observed/expected, a smoothed curve), Brier scores
and the integrated Brier score, a decision curve at 12 months, each with a patient-level
bootstrap 95% interval; and how the cohort's case-mix differs from the development cohort's.
Metrics come from scikit-survival and lifelines; what they lack (IPCW calibration, the smoothed
curve, standardised differences) is written here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer
from sksurv.metrics import (
    brier_score,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.util import Surv

from features.encode import encode
from features.schema import FIELDS, LANDMARKS, PFS_EVENT, PFS_MONTHS, PROGRESSION_PREDICTORS
from training.cohort import cohort_from_description, landmark_mask
from training.metrics import (
    CALIBRATION_HORIZON,
    IBS_GRID_MONTHS,
    calibration_slope_intercept,
    censoring_weights,
    harrell_c,
    net_benefit,
    observed_risk,
)
from training.models import HORIZONS_MONTHS, RiskModel
from training.progress import Stages
from training.resampling import resample_indices, run_resamples

DEFAULT_BOOTSTRAP = 200
DECISION_THRESHOLDS = tuple(np.round(np.arange(0.1, 0.81, 0.05), 2))
# Smoothed calibration curves are drawn between these quantiles of the predicted risk.
_CURVE_RANGE = (0.02, 0.98)
_CURVE_POINTS = 41
MIN_EVENTS = 10


class ValidationError(ValueError):
    """The cohort cannot be validated on as given (too few patients or events)."""


@dataclass
class LandmarkValidation:
    """Figures of one landmark: estimates and bootstrap 95% intervals."""

    landmark: str
    n: int
    events: int
    figures: dict[str, dict[str, float]]
    curves: dict[str, dict]  # smoothed calibration per horizon: grid, curve, low, high
    decision: dict  # thresholds, model, treat_all (with intervals for the model)
    risk: np.ndarray = field(repr=False)  # (n, 3): predicted risk at HORIZONS_MONTHS
    time: np.ndarray = field(repr=False)
    event: np.ndarray = field(repr=False)


def _surv(time, event):
    return Surv.from_arrays(event=np.asarray(event) == 1, time=np.asarray(time, float))


def point_figures(
    lp: np.ndarray,
    risk: np.ndarray,
    survival: np.ndarray,
    grid: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    weights: dict | None = None,
) -> dict[str, float]:
    """Every scalar figure on one sample (the cohort or a bootstrap resample of it).

    Parameters
    ----------
    lp : (n,) linear predictor; risk : (n, 3) risk at HORIZONS_MONTHS;
    survival : (n, len(grid)) predicted PFS on `grid` (months); time, event : outcomes.
    Censoring for the IPCW figures is estimated on the same sample (external validation);
    `weights` maps each horizon to its `censoring_weights` when already computed.
    """
    y = _surv(time, event)
    last = float(time.max())
    out: dict[str, float] = {
        "harrell_c": harrell_c(time, event, lp),
    }
    tau = min(24.0, last - 1e-6)
    keep = time < last  # IPCW needs times inside the follow-up of the censoring estimate
    out["uno_c"] = float(concordance_index_ipcw(y, y[keep], lp[keep], tau=tau)[0])
    for i, h in enumerate(HORIZONS_MONTHS):
        tag = f"{int(h)}m"
        if h < last and event[time <= h].sum() > 0:
            auc, _ = cumulative_dynamic_auc(y, y[keep], risk[keep, i], times=[h])
            out[f"auc_{tag}"] = float(auc[0])
            _, brier = brier_score(y, y[keep], 1 - risk[keep, i], h)
            out[f"brier_{tag}"] = float(brier[0])
            slope, intercept = calibration_slope_intercept(
                risk[:, i], time, event, h, (weights or {}).get(h)
            )
            out[f"calibration_slope_{tag}"], out[f"calibration_intercept_{tag}"] = slope, intercept
        else:
            for name in ("auc", "brier", "calibration_slope", "calibration_intercept"):
                out[f"{name}_{tag}"] = float("nan")
        observed = observed_risk(time, event, h)
        expected = float(risk[:, i].mean())
        out[f"observed_{tag}"], out[f"expected_{tag}"] = observed, expected
        out[f"observed_expected_{tag}"] = observed / expected if expected > 0 else float("nan")
    # scikit-survival takes only grid times inside the follow-up: a day-28 cohort's first
    # time can come after the grid's first month.
    inside = (grid >= time[keep].min()) & (grid < min(float(time[keep].max()), tau))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["integrated_brier"] = (
            float(integrated_brier_score(y, y[keep], survival[keep][:, inside], grid[inside]))
            if inside.sum() >= 2
            else float("nan")
        )
    return out


def smoothed_calibration(risk: np.ndarray, weights: tuple, grid: np.ndarray) -> np.ndarray:
    """Observed risk by a horizon as a smooth function of the predicted risk there: an IPCW-
    weighted logistic regression on a cubic spline of logit(predicted) (3 interior knots).
    `weights` is `censoring_weights(time, event, horizon)`."""
    known, label, weight = weights
    x = logit(np.clip(risk, 1e-6, 1 - 1e-6))[known, None]
    y, w = label[known], weight[known]
    if len(np.unique(y)) < 2:
        return np.full(len(grid), float(y.mean()) if len(y) else np.nan)
    smoother = make_pipeline(
        SplineTransformer(n_knots=5, degree=3, extrapolation="linear"),
        LogisticRegression(C=1e4, solver="newton-cholesky", max_iter=100),
    )
    smoother.fit(x, y, logisticregression__sample_weight=w)
    return smoother.predict_proba(logit(np.clip(grid, 1e-6, 1 - 1e-6))[:, None])[:, 1]


def _interval(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 10:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _resample(b: int, seed: int, lp, risk, survival, grid, time, event, curve_grids, names):
    """Resample b's figures, smoothed curves and net benefit (None if it has < 2 events);
    without `curve_grids` (None) its figures only."""
    idx = resample_indices(len(time), seed, b)
    t, e = time[idx], event[idx]
    if e.sum() < 2:
        return None
    w = {h: censoring_weights(t, e, h) for h in HORIZONS_MONTHS}
    figures = point_figures(lp[idx], risk[idx], survival[idx], grid, t, e, w)
    if curve_grids is None:
        return [figures[n] for n in names], {}, None
    curves = {
        h: smoothed_calibration(risk[idx, i], w[h], curve_grids[h])
        for i, h in enumerate(HORIZONS_MONTHS)
    }
    i12 = HORIZONS_MONTHS.index(CALIBRATION_HORIZON)
    nb = net_benefit(risk[idx, i12], t, e, thresholds=DECISION_THRESHOLDS)["model"]
    return [figures[n] for n in names], curves, nb


def validate_landmark(
    model: RiskModel,
    frame: pd.DataFrame,
    landmark: str,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    progress: bool = False,
    n_jobs: int = 1,
    curves: bool = True,
) -> LandmarkValidation:
    """Figures of one landmark's served graph on the landmark's patients of `frame`; with
    `curves` False, the scalar figures only (no smoothed calibration curves or decision
    curve: validation by centre pools figures, and the curves are most of a resample's time).

    The bootstrap runs through joblib (`n_jobs` workers, or the backend the caller set, e.g.
    a Dask cluster); resample b is drawn from its own seed, so results do not depend on how
    the work is spread."""
    part = frame.loc[landmark_mask(frame, landmark)]
    time = part[PFS_MONTHS].to_numpy(float)
    event = part[PFS_EVENT].to_numpy(float)
    if len(part) < 2 * MIN_EVENTS or event.sum() < MIN_EVENTS:
        raise ValidationError(
            f"{landmark} landmark: {len(part)} patients with {int(event.sum())} events; at "
            f"least {MIN_EVENTS} events are needed to estimate anything (a few hundred "
            "patients for intervals of useful width)"
        )
    X = encode(part, landmark)
    lp = model.linear_predictor(X)
    risk = model.predict_risk(X)
    grid = IBS_GRID_MONTHS
    survival = model.predict_survival(X, grid)
    weights = {h: censoring_weights(time, event, h) for h in HORIZONS_MONTHS}
    estimate = point_figures(lp, risk, survival, grid, time, event, weights)
    names = list(estimate)
    curve_grids = (
        {
            h: np.linspace(*np.quantile(risk[:, i], _CURVE_RANGE), _CURVE_POINTS)
            for i, h in enumerate(HORIZONS_MONTHS)
        }
        if curves
        else None
    )
    draws = run_resamples(
        _resample,
        n_boot,
        seed=seed,
        n_jobs=n_jobs,
        progress=progress,
        desc=f"{landmark}: bootstrap",
        args=(lp, risk, survival, grid, time, event, curve_grids, names),
    )
    boot = np.full((n_boot, len(names)), np.nan)
    boot_curves = {h: np.full((n_boot, _CURVE_POINTS), np.nan) for h in HORIZONS_MONTHS}
    boot_nb = np.full((n_boot, len(DECISION_THRESHOLDS)), np.nan)
    for b, got in enumerate(draws):
        if got is None:
            continue
        boot[b], curves_b, nb_b = got
        if curve_grids is not None:
            boot_nb[b] = nb_b
            for h in HORIZONS_MONTHS:
                boot_curves[h][b] = curves_b[h]
    figures = {}
    for j, name in enumerate(names):
        low, high = _interval(boot[:, j])
        figures[name] = {"estimate": estimate[name], "low": low, "high": high}
    if curve_grids is None:
        return LandmarkValidation(
            landmark, len(part), int(event.sum()), figures, {}, {}, risk, time, event
        )
    i12 = HORIZONS_MONTHS.index(CALIBRATION_HORIZON)
    decision = net_benefit(risk[:, i12], time, event, thresholds=DECISION_THRESHOLDS)
    observed = {
        h: smoothed_calibration(risk[:, i], weights[h], curve_grids[h])
        for i, h in enumerate(HORIZONS_MONTHS)
    }
    curve_out = {}
    for h in HORIZONS_MONTHS:
        bands = [_interval(boot_curves[h][:, k]) for k in range(_CURVE_POINTS)]
        curve_out[f"{int(h)}m"] = {
            "predicted": curve_grids[h].tolist(),
            "observed": observed[h].tolist(),
            "low": [b[0] for b in bands],
            "high": [b[1] for b in bands],
        }
    nb_bands = [_interval(boot_nb[:, k]) for k in range(len(DECISION_THRESHOLDS))]
    decision = {
        **decision,
        "model_low": [b[0] for b in nb_bands],
        "model_high": [b[1] for b in nb_bands],
        "treat_none": 0.0,
    }
    return LandmarkValidation(
        landmark, len(part), int(event.sum()), figures, curve_out, decision, risk, time, event
    )


def validate_model(
    scoring_model,
    frame: pd.DataFrame,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    progress: bool = False,
    n_jobs: int = 1,
    stages: Stages | None = None,
) -> dict[str, LandmarkValidation]:
    """Both landmarks of a `ScoringModel` on a validated cohort with outcomes."""
    stages = stages or Stages("validate", quiet=True)
    out = {}
    for lm in LANDMARKS:
        with stages.stage(f"{lm}: figures and {n_boot} resamples"):
            out[lm] = validate_landmark(
                scoring_model.landmarks[lm], frame, lm, n_boot, seed, progress, n_jobs
            )
    return out


# -- case-mix --------------------------------------------------------------------------------
def development_frame(metadata: dict, store=None) -> pd.DataFrame | None:
    """The version's development cohort, rebuilt as retraining rebuilds it (from `store`, the
    registry's `CohortStore`, when it was trained on stored cohorts) and checked against its
    recorded hash; None when it cannot be (a file moved or changed)."""
    from features.errors import SchemaError
    from model_registry.registry import RegistryError

    try:
        return cohort_from_description(metadata["cohort"], store).frame
    except (RegistryError, SchemaError, OSError, KeyError):
        return None


def _smd(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference (validation minus development, pooled SD)."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return float((b.mean() - a.mean()) / pooled) if pooled > 0 else 0.0


def case_mix(development: pd.DataFrame, validation: pd.DataFrame) -> pd.DataFrame:
    """Per predictor (and per category): mean or share in each cohort, the standardised
    difference (|SMD| > 0.1 is the usual flag of a meaningful difference) and missingness."""
    rows = []
    for f in FIELDS:
        # The PFS landmarks' predictors: fields at progression belong to another model.
        if f.role != "predictor" or f.name in PROGRESSION_PREDICTORS:
            continue
        dev, val = development[f.name], validation[f.name]
        missing = {
            "missing_development": float(dev.isna().mean()),
            "missing_validation": float(val.isna().mean()),
        }
        if f.kind == "category":
            d, v = dev.dropna(), val.dropna()
            for level in f.categories:
                a = (d == level).to_numpy(float)
                b = (v == level).to_numpy(float)
                rows.append(
                    {
                        "predictor": f"{f.name} = {level}",
                        "development": a.mean() if len(a) else np.nan,
                        "validation": b.mean() if len(b) else np.nan,
                        "smd": _smd(a, b),
                        **missing,
                    }
                )
        else:
            a = dev.dropna().to_numpy(float)
            b = val.dropna().to_numpy(float)
            rows.append(
                {
                    "predictor": f"{f.name} (mean)",
                    "development": a.mean() if len(a) else np.nan,
                    "validation": b.mean() if len(b) else np.nan,
                    "smd": _smd(a, b),
                    **missing,
                }
            )
    return pd.DataFrame(rows)


def risk_distribution(scoring_model, frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Quantiles of the predicted 12-month risk per landmark."""
    out = {}
    i12 = HORIZONS_MONTHS.index(CALIBRATION_HORIZON)
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        risk = scoring_model.landmarks[lm].predict_risk(encode(part, lm))[:, i12]
        q = np.quantile(risk, [0.1, 0.25, 0.5, 0.75, 0.9])
        out[lm] = {
            "mean": float(risk.mean()),
            **{f"q{int(p * 100)}": float(v) for p, v in zip((0.1, 0.25, 0.5, 0.75, 0.9), q)},
        }
    return out


# -- report ----------------------------------------------------------------------------------
_TABLE = [
    ("harrell_c", "Harrell's C"),
    ("uno_c", "Uno's C"),
    ("auc_6m", "AUC 6 months"),
    ("auc_12m", "AUC 12 months"),
    ("auc_24m", "AUC 24 months"),
    ("observed_expected_6m", "observed/expected 6 months"),
    ("observed_expected_12m", "observed/expected 12 months"),
    ("observed_expected_24m", "observed/expected 24 months"),
    ("calibration_intercept_6m", "calibration intercept 6 months"),
    ("calibration_intercept_12m", "calibration intercept 12 months"),
    ("calibration_intercept_24m", "calibration intercept 24 months"),
    ("calibration_slope_6m", "calibration slope 6 months"),
    ("calibration_slope_12m", "calibration slope 12 months"),
    ("calibration_slope_24m", "calibration slope 24 months"),
    ("observed_12m", "observed risk 12 months (1 - KM)"),
    ("expected_12m", "mean predicted risk 12 months"),
    ("brier_6m", "Brier 6 months"),
    ("brier_12m", "Brier 12 months"),
    ("brier_24m", "Brier 24 months"),
    ("integrated_brier", "integrated Brier (1-24 m)"),
]


def format_figure(figure: dict) -> str:
    if not np.isfinite(figure["estimate"]):
        return "n/a (no follow-up that far)"
    if not np.isfinite(figure["low"]):
        return f"{figure['estimate']:.3f}"
    return f"{figure['estimate']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}]"


def report_files(
    results: dict[str, LandmarkValidation],
    *,
    version: str,
    cohort: dict,
    n_boot: int,
    mix: pd.DataFrame | None,
    risks: dict | None,
    development_risks: dict | None,
    notice: str,
    by_group=None,
) -> dict[str, bytes]:
    """validation.md, validation.json and the plots (PNG), by file name."""
    import json

    from training.report import (
        draw_decision_curve,
        plot_external_calibration,
        plot_risk_distributions,
    )

    files: dict[str, bytes] = {}
    lines = [
        f"# External validation of {version}",
        "",
        notice,
        "",
        f"Cohort: {cohort.get('source', '')} {cohort.get('path', '')} (n = {cohort.get('n')}, "
        f"sha256 {str(cohort.get('sha256', ''))[:12]}…). Intervals: percentile bootstrap, "
        f"{n_boot} resamples of patients. Censoring for IPCW figures is estimated on this "
        "cohort.",
        "",
    ]
    for lm, r in results.items():
        files[f"{lm}_calibration.png"] = plot_external_calibration(r, f"{version}, {lm} landmark")
        files[f"{lm}_decision_curve.png"] = draw_decision_curve(
            r.decision, f"{version}, {lm} landmark, 12 months"
        )
        lines += [
            f"## Landmark: {lm} ({r.n} patients, {r.events} PFS events)",
            "",
            "| figure | estimate [95% CI] |",
            "|---|---|",
        ]
        lines += [f"| {label} | {format_figure(r.figures[key])} |" for key, label in _TABLE]
        nb = r.decision
        lines += [
            "",
            "Net benefit at 12 months (model [95% CI] / flag everyone / flag no one):",
            "",
            "| threshold | model | flag everyone | flag no one |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {t:.2f} | {m:+.3f} [{lo:+.3f}, {hi:+.3f}] | {a:+.3f} | 0 |"
            for t, m, lo, hi, a in zip(
                nb["thresholds"], nb["model"], nb["model_low"], nb["model_high"], nb["treat_all"]
            )
        ]
        lines += [
            "",
            f"![calibration]({lm}_calibration.png) ![decision curve]({lm}_decision_curve.png)",
            "",
        ]
    if risks is not None:
        if development_risks is not None:
            files["risk_distribution.png"] = plot_risk_distributions(
                results, development_risks, version
            )
        lines += [
            "## Predicted 12-month risk: this cohort against the development cohort",
            "",
            "| landmark | cohort | mean | 10% | 25% | median | 75% | 90% |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for lm in risks:
            for label, dist in (
                ("this cohort", risks[lm]),
                ("development", (development_risks or {}).get(lm)),
            ):
                if dist:
                    lines.append(
                        f"| {lm} | {label} | "
                        + " | ".join(
                            f"{dist[k]:.3f}" for k in ("mean", "q10", "q25", "q50", "q75", "q90")
                        )
                        + " |"
                    )
        if development_risks is not None:
            lines += ["", "![risk distribution](risk_distribution.png)"]
        lines.append("")
    if mix is not None:
        flagged = mix.loc[mix["smd"].abs() > 0.1, "predictor"].tolist()
        lines += [
            "## Case-mix against the development cohort",
            "",
            "Standardised mean difference (this cohort minus development; |SMD| > 0.1 is "
            "flagged) and missingness per predictor. Differences here explain moves in "
            "discrimination and calibration.",
            "",
            "Flagged: " + (", ".join(flagged) if flagged else "none") + ".",
            "",
            mix.to_markdown(index=False, floatfmt=".3f"),
            "",
        ]
    else:
        lines += [
            "## Case-mix",
            "",
            "The development cohort could not be rebuilt (it was not "
            "synthetic, or its file has moved or changed), so no comparison is shown.",
            "",
        ]
    if by_group is not None:
        from training.evaluation.centres import report_section

        section, plots = report_section(by_group)
        lines += section
        files.update(plots)
    files["validation.md"] = ("\n".join(lines) + "\n").encode()
    payload = {
        "version": version,
        "cohort": cohort,
        "bootstrap_resamples": n_boot,
        "notice": notice,
        "landmarks": {
            lm: {
                "n": r.n,
                "events": r.events,
                "figures": r.figures,
                "calibration_curves": r.curves,
                "decision_curve_12m": r.decision,
            }
            for lm, r in results.items()
        },
        "risk_12m": risks,
        "development_risk_12m": development_risks,
        "case_mix": None if mix is None else mix.to_dict(orient="records"),
        "by": None
        if by_group is None
        else {
            "column": by_group.column,
            "pooled": by_group.pooled,
            "groups": [
                {
                    "group": g.group,
                    "landmark": g.landmark,
                    "n": g.n,
                    "events": g.events,
                    "figures": g.figures,
                    "reason": g.reason,
                }
                for g in by_group.groups
            ],
        },
    }
    files["validation.json"] = json.dumps(
        _finite_or_null(payload), indent=2, allow_nan=False
    ).encode()
    return files


def _finite_or_null(obj):
    """JSON has no NaN: a figure that could not be estimated is null."""
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
