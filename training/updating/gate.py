"""The champion/challenger gate, in one module: what it compares (both models on the same
unseen patients, at 6, 12 and 24 months) and the rule that decides.

What is compared, per landmark and horizon (the definitions of `training.calibration`, the
ones `validate` reports and `recalibrate` updates by):

- the **Brier score** (a proper scoring rule: it rewards discrimination and calibration
  together), as the paired difference challenger - champion: both models on the same
  resamples of the same patients, so the interval of the difference is much narrower than
  either score's own. Decisive is its mean over the horizons followed; each horizon's is
  shown (on 500 patients one horizon's difference has a standard error near 0.004, the
  mean's near 0.003);
- the challenger's **calibration in the large** (observed / expected, observed by IPCW, equal
  to 1 - Kaplan-Meier) and its **calibration slope** itself, each with its interval.

The rule (an intersection-union test: every condition must hold, so the chance of promoting a
challenger that is worse on any of them stays at the one-sided 2.5% of each interval, without
a multiplicity correction):

1. the mean Brier score is shown no worse: the upper end of the 95% interval of the
   difference is at most `brier_rise`;
2. the challenger is not shown miscalibrated: the 95% intervals of its O/E and of its slope
   each reach the band [1 / (1 + m), 1 + m] (m = `oe_band`, `slope_band`).

A challenger whose point estimates look better on a few hundred patients but whose Brier
interval reaches past the tolerance is not promoted: the data cannot yet show it is no worse.
The old rule bounded the change in |slope - 1|, which is not smooth where the slope crosses 1
(its bootstrap distribution piles up against zero and a percentile interval of it is
degenerate), and read the slope on the logit scale while updates act on the cloglog scale.

Intervals: percentile bootstrap over patients, `DEFAULT_BOOTSTRAP` = 1,000 resamples. The
statistics are smooth (means of weighted terms, a ratio of two, a maximum-likelihood slope),
for which the percentile interval is first-order accurate; the bound read is the 2.5%
quantile, estimated from 25 resamples below it, with a Monte Carlo error of about 0.09 of a
standard error (200 resamples, the old default, gave 0.19). BCa would add a jackknife of n
refits per figure for a second-order gain that this margin-based rule does not need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from training.calibration import horizon_figures, resample_counts
from training.models import HORIZONS_MONTHS

DEFAULT_BOOTSTRAP = 1000
_CHUNK_CELLS = 4_000_000  # resamples x patients held in memory at once (~32 MB a matrix)

# metric -> (what is compared, how): the one list of the gate's metrics. "difference":
# challenger - champion, paired; "challenger": the challenger's own figure.
METRICS = {
    "brier": ("Brier score", "shown"),
    "mean_brier": ("mean Brier score", "difference"),
    "observed_expected": ("O/E", "challenger"),
    "calibration_slope": ("calibration slope", "challenger"),
}
GATE_METRICS = tuple(METRICS)


def _tags(horizons) -> list[str]:
    return [f"{int(h)}m" for h in horizons]


def paired_comparison(
    champion_risk: np.ndarray,
    challenger_risk: np.ndarray,
    time,
    event,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    progress: bool = False,
    label: str = "",
    horizons=HORIZONS_MONTHS,
) -> dict:
    """Each gate figure of both models on the same patients, with percentile 95% intervals
    over `n_boot` resamples of patients (both models on the same resample).

    Parameters
    ----------
    champion_risk, challenger_risk : (n, len(horizons)) predicted risk by each horizon.
    time, event : the patients' PFS (months) and event indicator.

    Returns
    -------
    metric name + horizon tag (`brier_12m`, ...) -> {champion, challenger, difference, low,
    high, n, events}: low/high bound the difference for "difference" metrics and the
    challenger's own figure for the others. A horizon past the follow-up is NaN.
    """
    time, event = np.asarray(time, float), np.asarray(event, float)
    n = len(time)
    risks = {
        "champion": np.asarray(champion_risk, float),
        "challenger": np.asarray(challenger_risk, float),
    }
    point = horizon_figures(risks, time, event, np.ones((1, n)), horizons)
    step = max(1, _CHUNK_CELLS // max(n, 1))
    draws: dict[str, list] = {"champion": [], "challenger": []}
    bar = tqdm(
        total=n_boot, desc=f"{label}: paired bootstrap", disable=not progress, unit="resample"
    )
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        counts = np.vstack([np.ones((1, n)), resample_counts(n, seed, start, stop)])
        got = horizon_figures(risks, time, event, counts, horizons)
        for who in draws:
            draws[who].append({k: v[1:] for k, v in got[who].items()})
        bar.update(stop - start)
    bar.close()
    samples = {
        who: {k: np.concatenate([d[k] for d in parts]) for k in parts[0]}
        for who, parts in draws.items()
    }
    # The decisive score: the Brier score averaged over the horizons followed (one proper
    # score for the whole curve; its horizons' differences are correlated, so the mean's
    # interval is narrower than any one's).
    followed = [t for t in _tags(horizons) if np.isfinite(point["champion"][f"brier_{t}"][0])]
    for figures in (*point.values(), *samples.values()):
        figures["mean_brier_all"] = (
            np.mean([figures[f"brier_{t}"] for t in followed], axis=0)
            if followed
            else np.full(len(figures["brier_12m"]), np.nan)
        )
    out = {}
    for metric, (_, how) in METRICS.items():
        for tag in ["all"] if metric == "mean_brier" else _tags(horizons):
            key = f"{metric}_{tag}"
            a, b = float(point["champion"][key][0]), float(point["challenger"][key][0])
            spread = (
                samples["challenger"][key]
                if how == "challenger"
                else samples["challenger"][key] - samples["champion"][key]
            )
            finite = spread[np.isfinite(spread)]
            low, high = (
                np.percentile(finite, [2.5, 97.5])
                if len(finite) >= 0.9 * n_boot
                else (np.nan, np.nan)
            )
            out[key] = {
                "champion": a,
                "challenger": b,
                "difference": b - a,
                "low": float(low),
                "high": float(high),
                "n": int(n),
                "events": int(event.sum()),
                "bootstrap": int(n_boot),
            }
    return out


def compare_models(champion, challenger, X, time, event, **kwargs) -> dict:
    """`paired_comparison` of two fitted models (anything with `predict_risk`) on X."""
    return paired_comparison(
        champion.predict_risk(X), challenger.predict_risk(X), time, event, **kwargs
    )


@dataclass(frozen=True)
class GateTolerances:
    """How much worse a challenger may be and still be promoted.

    brier_rise: the mean Brier score may rise by at most this much (upper end of the
        interval of the paired difference). 0.002 is the rise of a calibrated model's Brier
        score when every risk moves by 4.5 points (mean of the squared shift).
    oe_band: the interval of the challenger's O/E must reach [1 / (1 + m), 1 + m].
    slope_band: the interval of its calibration slope must reach [1 / (1 + m), 1 + m].
    """

    brier_rise: float = 0.002
    oe_band: float = 0.2
    slope_band: float = 0.25


@dataclass
class GateDecision:
    promote: bool
    rows: list[dict] = field(default_factory=list)
    rule: str = (
        "promote when, at every landmark, the 95% interval of the challenger's mean "
        "Brier score (6, 12, 24 months) minus the champion's stays below the "
        "tolerance, and at every horizon followed the 95% intervals of the "
        "challenger's O/E and calibration slope reach the band around 1 (it is not "
        "shown miscalibrated)"
    )

    def table(self) -> str:
        lines = [
            f"{'landmark':9} {'figure':24} {'champion':>9} {'challenger':>10} "
            f"{'interval (95%)':>31} {'allowed':>16}  ok"
        ]
        for r in self.rows:
            if not r["assessed"]:
                lines.append(
                    f"{r['landmark']:9} {r['label']:24} {'n/a: no follow-up that far':>58}"
                )
                continue
            shown = (
                f"diff {r['difference']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
                if r["how"] != "challenger"
                else f"{r['challenger']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"
            )
            lines.append(
                f"{r['landmark']:9} {r['label']:24} {r['champion']:9.4f} "
                f"{r['challenger']:10.4f} {shown:>31} {r['allowed']:>16}  "
                f"{'yes' if r['ok'] else 'NO'}"
            )
        n = ", ".join(
            sorted({f"{r['landmark']} n={r['n']} ({r['events']} events)" for r in self.rows})
        )
        verdict = "promote the challenger" if self.promote else "keep the champion"
        return "\n".join(
            lines + [f"unseen patients: {n}", f"rule: {self.rule}", f"decision: {verdict}"]
        )


def compare(
    comparisons: dict[str, dict], tolerances: GateTolerances = GateTolerances()
) -> GateDecision:
    """Apply the rule to `paired_comparison` results, one per landmark."""
    rows = []
    bands = {"observed_expected": tolerances.oe_band, "calibration_slope": tolerances.slope_band}
    for landmark, figures in comparisons.items():
        for key, f in figures.items():
            metric, tag = key.rsplit("_", 1)
            label, how = METRICS[metric]
            tag = "6-24m" if tag == "all" else tag
            assessed = bool(np.isfinite(f["challenger"]) and np.isfinite(f["low"]))
            if how == "shown":  # each horizon's Brier difference: shown, not decisive
                ok, allowed = True, "(shown)"
            elif how == "difference":
                ok = f["high"] <= tolerances.brier_rise
                allowed = f"diff <= {tolerances.brier_rise:+.4f}"
            else:
                low, high = 1 / (1 + bands[metric]), 1 + bands[metric]
                ok = f["high"] >= low and f["low"] <= high
                allowed = f"reaches [{low:.2f}, {high:.2f}]"
            rows.append(
                {
                    "landmark": landmark,
                    "metric": key,
                    "label": f"{label} {tag}",
                    "how": how,
                    "champion": float(f["champion"]),
                    "challenger": float(f["challenger"]),
                    "difference": float(f["difference"]),
                    "low": float(f["low"]),
                    "high": float(f["high"]),
                    "n": f["n"],
                    "events": f["events"],
                    "allowed": allowed,
                    "assessed": assessed,
                    "ok": bool(ok) if assessed else True,
                }
            )
    assessed = [r for r in rows if r["assessed"]]
    return GateDecision(bool(assessed) and all(r["ok"] for r in assessed), rows)
