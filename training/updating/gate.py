"""The champion/challenger gate, in one module: what it compares (both models on the same
unseen patients, with paired bootstrap intervals of each difference challenger - champion)
and the rule that decides (non-inferiority).

Pairing matters: the two models' figures on one sample are strongly correlated, so the
interval of their difference is much narrower than either figure's own, and the gate can
tell a real change from the noise of a few hundred patients.

The rule: the end of the interval on the side of harm must lie within the tolerance. A
challenger whose point estimate looks better on a few hundred patients but whose interval
reaches past the tolerance is not promoted: the data cannot yet show it is no worse.
The registry (`model_registry`) records the decision in the version's metadata; the
statistics live here because they need the evaluation metrics of `training.metrics`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sksurv.metrics import concordance_index_ipcw, integrated_brier_score
from sksurv.util import Surv
from tqdm import tqdm

from training.metrics import CALIBRATION_HORIZON, calibration_slope_intercept, censoring_weights
from training.models import HORIZONS_MONTHS

# metric -> (what is compared, +1 when higher is better / -1 when lower is better, the
# `GateTolerances` field that bounds it): the one list of the gate's metrics.
METRICS = {"uno_c": ("Uno's C", +1, "uno_c_drop"),
           "slope_deviation_12m": ("|slope 12m - 1|", -1, "slope_drift"),
           "integrated_brier": ("integrated Brier", -1, "brier_rise")}
GATE_METRICS = tuple(METRICS)
_I12 = HORIZONS_MONTHS.index(CALIBRATION_HORIZON)
_GRID = np.arange(1.0, 24.0 + 1e-9, 1.0)


def _figures(model, X, time, event, weights, grid) -> dict[str, float]:
    y = Surv.from_arrays(event=event == 1, time=time)
    tau = min(24.0, float(time.max()) - 1e-6)
    slope, _ = calibration_slope_intercept(model.predict_risk(X)[:, _I12], time, event,
                                           weights=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ibs = integrated_brier_score(y, y, model.predict_survival(X, grid), grid)
    return {"uno_c": float(concordance_index_ipcw(y, y, model.linear_predictor(X), tau=tau)[0]),
            "slope_deviation_12m": abs(slope - 1.0), "integrated_brier": float(ibs)}


def _pair(champion, challenger, X, time, event) -> dict[str, tuple[float, float]]:
    keep = time < time.max()  # IPCW figures need times inside the follow-up
    grid = _GRID[(_GRID >= time[keep].min()) & (_GRID < time[keep].max())]
    weights = censoring_weights(time, event, CALIBRATION_HORIZON)
    a = _figures(champion, X, time, event, weights, grid)
    b = _figures(challenger, X, time, event, weights, grid)
    return {k: (a[k], b[k]) for k in GATE_METRICS}


def paired_comparison(champion, challenger, X, time, event, *, n_boot: int = 200,
                      seed: int = 0, progress: bool = False, label: str = "") -> dict:
    """Each gate figure of both models on (X, time, event), the difference challenger -
    champion and its percentile 95% interval over `n_boot` resamples of patients (both models
    on the same resample)."""
    time, event = np.asarray(time, float), np.asarray(event, float)
    point = _pair(champion, challenger, X, time, event)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in GATE_METRICS}
    for _ in tqdm(range(n_boot), desc=f"{label}: paired bootstrap", disable=not progress,
                  unit="resample"):
        i = rng.integers(0, len(time), len(time))
        for k, (a, b) in _pair(champion, challenger, X.iloc[i], time[i], event[i]).items():
            draws[k].append(b - a)
    out = {}
    for k, (a, b) in point.items():
        low, high = np.percentile(draws[k], [2.5, 97.5])
        out[k] = {"champion": a, "challenger": b, "difference": b - a, "low": float(low),
                  "high": float(high), "n": int(len(time)), "events": int(event.sum())}
    return out




@dataclass(frozen=True)
class GateTolerances:
    """How much worse a challenger may be on each metric and still be promoted.

    uno_c_drop: Uno's C may fall by at most this much.
    slope_drift: |calibration slope - 1| may grow by at most this much.
    brier_rise: the integrated Brier score may rise by at most this much.
    """

    uno_c_drop: float = 0.005
    slope_drift: float = 0.05
    brier_rise: float = 0.005

    def margin(self, metric: str) -> float:
        return getattr(self, METRICS[metric][2])


@dataclass
class GateDecision:
    promote: bool
    rows: list[dict] = field(default_factory=list)
    rule: str = ("promote when, at every landmark and for every metric, the 95% interval of "
                 "the difference excludes harm beyond the tolerance")

    def table(self) -> str:
        lines = [f"{'landmark':9} {'metric':18} {'champion':>9} {'challenger':>10} "
                 f"{'difference [95% CI]':>28} {'worst allowed':>13}  ok"]
        for r in self.rows:
            ci = f"{r['difference']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
            lines.append(f"{r['landmark']:9} {r['label']:18} {r['champion']:9.4f} "
                         f"{r['challenger']:10.4f} {ci:>28} {r['allowed']:>13}  "
                         f"{'yes' if r['ok'] else 'NO'}")
        n = ", ".join(sorted({f"{r['landmark']} n={r['n']} ({r['events']} events)"
                              for r in self.rows}))
        verdict = "promote the challenger" if self.promote else "keep the champion"
        return "\n".join(lines + [f"unseen patients: {n}", f"rule: {self.rule}",
                                  f"decision: {verdict}"])


def compare(comparisons: dict[str, dict], tolerances: GateTolerances = GateTolerances()
            ) -> GateDecision:
    """Apply the rule to `training.updating.gate.paired_comparison` results, one per landmark."""
    rows = []
    for landmark, figures in comparisons.items():
        for metric, (label, direction, _) in METRICS.items():
            f = figures[metric]
            margin = tolerances.margin(metric)
            # The end of the interval on the side of harm.
            worst = f["low"] if direction > 0 else f["high"]
            ok = worst >= -margin if direction > 0 else worst <= margin
            rows.append({"landmark": landmark, "metric": metric, "label": label,
                         "champion": float(f["champion"]), "challenger": float(f["challenger"]),
                         "difference": float(f["difference"]), "low": float(f["low"]),
                         "high": float(f["high"]), "n": f["n"], "events": f["events"],
                         "allowed": f"{'>=' if direction > 0 else '<='} "
                                    f"{-margin if direction > 0 else margin:+.3f}",
                         "ok": bool(ok)})
    return GateDecision(all(r["ok"] for r in rows), rows)
