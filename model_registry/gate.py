"""The champion/challenger gate: a challenger is promoted only if it is shown to be no worse.

The gate reads, per landmark and metric, the difference challenger - champion measured on the
same unseen patients with a paired bootstrap 95% interval (`training.gating`). The rule is
non-inferiority: the end of the interval on the side of harm must lie within the tolerance.
A challenger whose point estimate looks better on a few hundred patients but whose interval
reaches past the tolerance is not promoted: the data cannot yet show it is no worse.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# metric -> (what is compared, +1 when higher is better / -1 when lower is better)
METRICS = {"uno_c": ("Uno's C", +1), "slope_deviation_12m": ("|slope 12m - 1|", -1),
           "integrated_brier": ("integrated Brier", -1)}


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
        return {"uno_c": self.uno_c_drop, "slope_deviation_12m": self.slope_drift,
                "integrated_brier": self.brier_rise}[metric]


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
    """Apply the rule to `training.gating.paired_comparison` results, one per landmark."""
    rows = []
    for landmark, figures in comparisons.items():
        for metric, (label, direction) in METRICS.items():
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
