"""What the champion/challenger gate compares: both models on the same unseen patients, with
paired bootstrap confidence intervals of each difference (challenger - champion).

Pairing matters: the two models' figures on one sample are strongly correlated, so the
interval of their difference is much narrower than either figure's own, and the gate can
tell a real change from the noise of a few hundred patients.
"""
from __future__ import annotations

import warnings

import numpy as np
from sksurv.metrics import concordance_index_ipcw, integrated_brier_score
from sksurv.util import Surv
from tqdm import tqdm

from training.evaluate import CALIBRATION_HORIZON, calibration_slope_intercept, censoring_weights
from training.models import HORIZONS_MONTHS

GATE_METRICS = ("uno_c", "slope_deviation_12m", "integrated_brier")
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
