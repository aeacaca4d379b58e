"""The champion/challenger gate: a challenger is promoted only if it is no worse."""
from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class GateDecision:
    promote: bool
    rows: list[dict] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'landmark':9} {'metric':22} {'champion':>9} {'challenger':>10} "
                 f"{'allowed':>9}  ok"]
        for r in self.rows:
            lines.append(f"{r['landmark']:9} {r['metric']:22} {r['champion']:9.4f} "
                         f"{r['challenger']:10.4f} {r['allowed']:>9}  "
                         f"{'yes' if r['ok'] else 'NO'}")
        verdict = "promote the challenger" if self.promote else "keep the champion"
        return "\n".join(lines + [f"decision: {verdict}"])


def compare(champion: dict[str, dict], challenger: dict[str, dict],
            tolerances: GateTolerances = GateTolerances()) -> GateDecision:
    """Compare metrics per landmark (dicts from `training.evaluate.evaluate`)."""
    rows = []
    for landmark in champion:
        a, b = champion[landmark], challenger[landmark]
        checks = [
            ("uno_c", a["uno_c"], b["uno_c"], f">= -{tolerances.uno_c_drop}",
             b["uno_c"] >= a["uno_c"] - tolerances.uno_c_drop),
            ("|slope_12m - 1|", abs(a["calibration_slope_12m"] - 1),
             abs(b["calibration_slope_12m"] - 1), f"<= +{tolerances.slope_drift}",
             abs(b["calibration_slope_12m"] - 1)
             <= abs(a["calibration_slope_12m"] - 1) + tolerances.slope_drift),
            ("integrated_brier", a["integrated_brier"], b["integrated_brier"],
             f"<= +{tolerances.brier_rise}",
             b["integrated_brier"] <= a["integrated_brier"] + tolerances.brier_rise),
        ]
        for metric, va, vb, allowed, ok in checks:
            rows.append({"landmark": landmark, "metric": metric, "champion": float(va),
                         "challenger": float(vb), "allowed": allowed, "ok": bool(ok)})
    return GateDecision(all(r["ok"] for r in rows), rows)
