"""Validation by centre (`relapse-risk validate --by COLUMN`): each group's discrimination and
calibration with intervals, and how much they vary between groups, as internal-external
validation of multi-centre prediction models reports it (Riley et al., BMJ 2016; Debray et
al., Stat Med 2013).

Per landmark, each group's Harrell's C and 12-month O/E come from `validate_landmark` (with
its bootstrap). They are pooled by a random-effects meta-analysis (DerSimonian-Laird,
statsmodels), C on the logit scale and O/E on the log scale, each group's variance from its
bootstrap interval; reported: the pooled figure with its 95% interval, the between-group SD
(tau), I2, and the 95% prediction interval for a new centre (Riley, Higgins and Deeks, BMJ
2011: mean +- t(k-2) sqrt(tau2 + SE2)). A group too small to estimate anything is listed with
its counts and why, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from features.schema import LANDMARKS, PFS_EVENT
from training.cohort import landmark_mask
from training.evaluation.external_validation import (
    ValidationError,
    format_figure,
    validate_landmark,
)
from training.progress import Stages

# figure -> (label, transform to the pooling scale, its inverse)
POOLED = {
    "harrell_c": ("Harrell's C", logit, expit),
    "observed_expected_12m": ("O/E 12 months", np.log, np.exp),
}


@dataclass
class GroupResult:
    group: str
    landmark: str
    n: int
    events: int
    figures: dict | None  # figure -> {estimate, low, high}; None when too small
    reason: str = ""


@dataclass
class CentreValidation:
    column: str
    groups: list[GroupResult] = field(default_factory=list)
    pooled: dict = field(default_factory=dict)  # landmark -> figure -> summary


def _pool(rows: list[GroupResult], key: str) -> dict | None:
    """Random-effects summary of one figure over the groups that have it."""
    from statsmodels.stats.meta_analysis import combine_effects

    _, forward, back = POOLED[key]
    usable = [
        r
        for r in rows
        if r.figures
        and np.isfinite(r.figures[key]["low"])
        and r.figures[key]["low"] > 0
        and r.figures[key]["high"] < (1 if key == "harrell_c" else np.inf)
    ]
    if len(usable) < 3:
        return {
            "k": len(usable),
            "reason": "fewer than 3 groups with an interval: no "
            "between-group spread can be estimated",
        }
    effect = np.array([forward(r.figures[key]["estimate"]) for r in usable])
    se = np.array(
        [
            (forward(r.figures[key]["high"]) - forward(r.figures[key]["low"])) / (2 * 1.959964)
            for r in usable
        ]
    )
    result = combine_effects(effect, np.maximum(se, 1e-6) ** 2, method_re="dl")
    frame = result.summary_frame()
    mean, mean_se = frame.loc["random effect", "eff"], frame.loc["random effect", "sd_eff"]
    k = len(usable)
    half = stats.t.ppf(0.975, k - 2) * np.sqrt(result.tau2 + mean_se**2) if k > 2 else np.nan
    return {
        "k": k,
        "estimate": float(back(mean)),
        "low": float(back(frame.loc["random effect", "ci_low"])),
        "high": float(back(frame.loc["random effect", "ci_upp"])),
        "prediction_low": float(back(mean - half)),
        "prediction_high": float(back(mean + half)),
        "tau": float(np.sqrt(result.tau2)),
        "i2": float(result.i2),
        "scale": "logit" if key == "harrell_c" else "log",
    }


def validate_by(
    scoring_model,
    frame: pd.DataFrame,
    column: str,
    *,
    n_boot: int,
    seed: int = 0,
    n_jobs: int = 1,
    stages: Stages | None = None,
) -> CentreValidation:
    """Each group of `column` validated on its own, then pooled (module docstring)."""
    stages = stages or Stages("validate", quiet=True)
    if column not in frame.columns:
        raise ValidationError(f"--by {column}: no such column in the cohort")
    values = frame[column].astype("string").fillna("(blank)")
    out = CentreValidation(column)
    for lm in LANDMARKS:
        rows = []
        with stages.stage(f"{lm}: {values.nunique()} groups of {column}"):
            for group in sorted(values.unique()):
                part = frame.loc[(values == group).to_numpy()]
                eligible = part.loc[landmark_mask(part, lm)]
                n, events = len(eligible), int(eligible[PFS_EVENT].sum())
                try:
                    result = validate_landmark(
                        scoring_model.landmarks[lm],
                        part,
                        lm,
                        n_boot,
                        seed,
                        n_jobs=n_jobs,
                        curves=False,
                    )
                    rows.append(
                        GroupResult(
                            str(group),
                            lm,
                            n,
                            events,
                            {
                                k: result.figures[k]
                                for k in (
                                    "harrell_c",
                                    "uno_c",
                                    "auc_12m",
                                    "observed_expected_12m",
                                    "calibration_slope_12m",
                                    "brier_12m",
                                )
                            },
                        )
                    )
                except (ValidationError, ValueError) as exc:
                    rows.append(
                        GroupResult(
                            str(group), lm, n, events, None, f"too small to estimate: {exc}"
                        )
                    )
        out.groups += rows
        out.pooled[lm] = {key: _pool(rows, key) for key in POOLED}
    return out


def report_section(result: CentreValidation) -> tuple[list[str], dict[str, bytes]]:
    """Markdown lines and forest plots (PNG) for validation.md."""
    lines = [
        f"## By {result.column}",
        "",
        "Each group validated on its own (bootstrap 95% intervals); C and O/E pooled by a "
        "random-effects meta-analysis (DerSimonian-Laird) with the between-group SD (tau), "
        "I2 and the 95% prediction interval for a new group.",
        "",
    ]
    files = {}
    for lm in LANDMARKS:
        rows = [g for g in result.groups if g.landmark == lm]
        lines += [
            f"### {lm}",
            "",
            f"| {result.column} | patients | events | Harrell's C | "
            "O/E 12 months | calibration slope 12 months |",
            "|---|---|---|---|---|---|",
        ]
        for g in rows:
            if g.figures is None:
                lines.append(f"| {g.group} | {g.n} | {g.events} | {g.reason} | | |")
            else:
                lines.append(
                    f"| {g.group} | {g.n} | {g.events} | "
                    f"{format_figure(g.figures['harrell_c'])} | "
                    f"{format_figure(g.figures['observed_expected_12m'])} | "
                    f"{format_figure(g.figures['calibration_slope_12m'])} |"
                )
        lines.append("")
        for key, (label, _, _) in POOLED.items():
            p = result.pooled[lm][key]
            if "estimate" not in p:
                lines.append(f"- {label}: {p['reason']} ({p['k']} usable).")
                continue
            lines.append(
                f"- {label} pooled: {p['estimate']:.3f} [{p['low']:.3f}, "
                f"{p['high']:.3f}]; prediction interval for a new {result.column} "
                f"[{p['prediction_low']:.3f}, {p['prediction_high']:.3f}]; tau "
                f"{p['tau']:.3f} ({p['scale']} scale), I2 {100 * p['i2']:.0f}% "
                f"({p['k']} groups)."
            )
        files[f"{lm}_by_{result.column}_forest.png"] = _forest(
            rows, result.pooled[lm], lm, result.column
        )
        lines += ["", f"![forest plot]({lm}_by_{result.column}_forest.png)", ""]
    return lines, files


def _forest(rows: list[GroupResult], pooled: dict, landmark: str, column: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(rows) + 2.2), sharey=True)
    labels = [f"{g.group} (n={g.n})" for g in rows] + ["pooled"]
    for ax, (key, (label, _, _)) in zip(axes, POOLED.items()):
        for i, g in enumerate(rows):
            if g.figures and np.isfinite(g.figures[key]["low"]):
                f = g.figures[key]
                ax.errorbar(
                    f["estimate"],
                    i,
                    xerr=[[f["estimate"] - f["low"]], [f["high"] - f["estimate"]]],
                    fmt="s",
                    color="black",
                    capsize=3,
                )
        p = pooled[key]
        if "estimate" in p:
            ax.errorbar(
                p["estimate"],
                len(rows),
                xerr=[[p["estimate"] - p["low"]], [p["high"] - p["estimate"]]],
                fmt="D",
                color="tab:blue",
                capsize=3,
            )
            ax.hlines(
                len(rows) + 0.3,
                p["prediction_low"],
                p["prediction_high"],
                color="tab:blue",
                linestyle=":",
                label="prediction interval",
            )
            ax.legend(loc="lower right", fontsize=7)
        if key == "observed_expected_12m":
            ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_xlabel(label)
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    fig.suptitle(f"{landmark} landmark by {column} (research use only)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
