"""Risks read off a two-cause graph's curves: for a patient still event-free at month s
(dynamic prediction), and the event-free survival at given months.

Pure numpy on the curves the graph returns (`event_free_curve`, `relapse_curve`,
`nrm_curve`, `relapse_cumhaz_curve` on an evenly spaced grid from 0): shared by training
(`training.outcome.TwoCauseModel.conditional`) and scoring, so the service needs no training
code to answer.
"""

from __future__ import annotations

import numpy as np

# Risks over the next 6 and 12 months for a patient event-free at month s, s up to 24.
CONDITIONAL_HORIZONS_MONTHS = (6.0, 12.0)
MAX_EVENT_FREE_MONTHS = 24.0
CONDITIONAL_COLUMNS = tuple(
    f"{kind}_next_{int(h)}m"
    for h in CONDITIONAL_HORIZONS_MONTHS
    for kind in ("risk", "relapse", "nrm")
)
CURE_GIVEN_EVENT_FREE = "cure_probability_given_event_free"


def value_at(curves: np.ndarray, months, step: float) -> np.ndarray:
    """Each row's curve at its own time (linear between grid points), shape (n,)."""
    size = curves.shape[1]
    position = np.clip(np.asarray(months, float) / step, 0, size - 1)
    low = np.minimum(np.floor(position).astype(int), size - 2)
    frac = position - low
    rows = np.arange(len(curves))
    return curves[rows, low] * (1 - frac) + curves[rows, low + 1] * frac


def conditional_risks(
    curves: dict[str, np.ndarray],
    event_free_months,
    step: float,
    cure_probability: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Risks over the next months for patients still event-free at `event_free_months`.

    relapse over (s, s + h] = (CIF_relapse(s + h) - CIF_relapse(s)) / S(s), likewise NRM;
    with a cure fraction, P(cured | event-free at s) = pi exp(H_relapse(s)): the patient's
    relapse-free survival at s is pi + (1 - pi) S_u(s) = exp(-H_relapse(s)), and being free of
    NRM says nothing of cure (NRM acts on everyone alike). `curves` has keys event_free,
    relapse, nrm and relapse_cumhaz, each (n, G) on a grid of spacing `step` from 0.
    """
    s = np.asarray(event_free_months, float)
    alive = np.maximum(value_at(curves["event_free"], s, step), 1e-12)
    out = {}
    for h in CONDITIONAL_HORIZONS_MONTHS:
        for cause in ("relapse", "nrm"):
            gain = value_at(curves[cause], s + h, step) - value_at(curves[cause], s, step)
            out[f"{cause}_next_{int(h)}m"] = np.clip(gain / alive, 0.0, 1.0)
        out[f"risk_next_{int(h)}m"] = out[f"relapse_next_{int(h)}m"] + out[f"nrm_next_{int(h)}m"]
    if cure_probability is not None:
        out[CURE_GIVEN_EVENT_FREE] = np.minimum(
            cure_probability * np.exp(value_at(curves["relapse_cumhaz"], s, step)), 1.0
        )
    return out
