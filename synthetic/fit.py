"""Fit the generator's free parameters to the evidence table.

Simulate with common random numbers, refit every required figure with its own method, and
move the parameters by damped Gauss-Newton steps (finite-difference Jacobian, refreshed by
Broyden updates) until each figure sits well inside its tolerance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import special
from tqdm import tqdm

from synthetic.calibration import CohortStatistics
from synthetic.evidence import Evidence, load_evidence
from synthetic.generator import GeneratorParams, simulate

# How each free parameter is kept in range while the optimiser moves freely.
_TRANSFORMS = {
    "tp53_altered_prevalence": "logit",
    "salvage_fraction": "logit",
    "stage_burden_weight": "logit",
    "time_scale": "log",
    "post_progression_scale": "log",
    "response_cmax": "log",
    "response_tp53": "log",
    "bridging_burden": "log",
    "extranodal_burden": "log",
    "nrm_early_rate_per_month": "log",
    "nrm_late_rate": "log",
    "nrm_late_shape": "log",
}
# Figures outside the required set still pull, more gently.
_OPTIONAL_WEIGHT = 0.3
# Stop when every required figure is within this fraction of its tolerance.
_GOAL = 0.25


@dataclass
class FitResult:
    params: GeneratorParams
    residuals: dict[str, float]
    start_residuals: dict[str, float]
    evaluations: int


def _to_free(name: str, value: float) -> float:
    kind = _TRANSFORMS.get(name)
    return special.logit(value) if kind == "logit" else np.log(value) if kind == "log" else value


def _from_free(name: str, value: float) -> float:
    kind = _TRANSFORMS.get(name)
    return float(
        special.expit(value) if kind == "logit" else np.exp(value) if kind == "log" else value
    )


def residual(ev: Evidence, value: float) -> float:
    """Signed distance of a simulated value from the figure, in units of its tolerance."""
    if not np.isfinite(value):
        return 10.0 if ev.check and "above" not in ev.check else 0.0
    lo, hi = ev.acceptance_interval()
    if "above" in ev.check:
        margin = 0.05
        return float(max(0.0, lo + margin - value) / margin)
    centre = ev.value if "range" not in ev.check else (lo + hi) / 2
    if ev.unit in ("HR", "OR", "ratio", "cells/uL") and lo > 0:
        value, centre, lo, hi = np.log(value), np.log(centre), np.log(lo), np.log(hi)
    # Each side of the band is one unit, so +-1 is exactly the edge of the tolerance.
    side = hi - centre if value > centre else centre - lo
    return float((value - centre) / side) if side > 0 else float(value - centre)


# The progression landmark's figures (after CAR-T failure) that are not required: fitted by
# their own least-squares refit of the parameters after progression (see the parameter
# file's fit report), checked by `calibrate`, and left out here, where their small subgroups
# would add sampling noise to every step of the fit of the other parameters.
_FITTED_SEPARATELY = (
    "OS from progression",
    "PFS from progression",
    "treatment after failure",
    "CD19 at progression",
)


def _targets(evidence: dict[str, Evidence]) -> list[Evidence]:
    return [
        ev
        for ev in evidence.values()
        if ev.method and ev.check and (ev.required or ev.endpoint not in _FITTED_SEPARATELY)
    ]


def fit_params(
    start: GeneratorParams,
    *,
    n: int = 60_000,
    seed: int = 20240101,
    max_evaluations: int = 400,
    progress: bool = True,
) -> FitResult:
    """Fit the parameters listed in `start.fitted`.

    Parameters
    ----------
    start : GeneratorParams
        Starting values; `fixed` are left alone.
    n : int
        Patients per simulation; larger is smoother and slower.
    seed : int
        Seed of the common random numbers.

    Returns
    -------
    FitResult
        New parameters (fit report included) and the final residual of every figure.
    """
    evidence = load_evidence()
    targets = _targets(evidence)
    names = list(start.fitted)
    weights = np.array([1.0 if ev.required else _OPTIONAL_WEIGHT for ev in targets])
    required = np.array([ev.required for ev in targets])
    bar = tqdm(total=max_evaluations, desc="fitting generator", disable=not progress, unit="sim")
    count = 0

    def params_at(x: np.ndarray) -> GeneratorParams:
        return start.with_fitted({k: _from_free(k, v) for k, v in zip(names, x)})

    def evaluate(x: np.ndarray) -> np.ndarray:
        nonlocal count
        count += 1
        bar.update(1)
        stats = CohortStatistics(simulate(n, seed, params_at(x)), fast=True)
        return np.array([residual(ev, stats.estimate(ev).value) for ev in targets])

    def jacobian(x: np.ndarray, r: np.ndarray, h: float = 0.03) -> np.ndarray:
        columns = []
        for i in range(len(x)):
            step = np.zeros_like(x)
            step[i] = h
            columns.append((evaluate(x + step) - r) / h)
        return np.column_stack(columns)

    x = np.array([_to_free(k, start.fitted[k]) for k in names])
    r = r_start = evaluate(x)
    jac = jacobian(x, r)
    damping, failures = 1e-3, 0
    while count < max_evaluations:
        if np.max(np.abs(r[required])) < _GOAL and np.max(np.abs(r[~required])) < 1.0:
            break
        wj = jac * weights[:, None]
        jtj = wj.T @ wj
        step = np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-9), -wj.T @ (weights * r))
        step *= min(1.0, 1.0 / np.max(np.abs(step)))  # never more than one unit at a time
        r_new = evaluate(x + step)
        jac += np.outer(r_new - r - jac @ step, step) / (step @ step)
        if np.sum((weights * r_new) ** 2) < np.sum((weights * r) ** 2):
            x, r, damping, failures = x + step, r_new, max(damping / 3, 1e-6), 0
        else:
            damping, failures = damping * 4, failures + 1
            if failures >= 3:
                jac, damping, failures = jacobian(x, r), 1e-3, 0
        bar.set_postfix(worst=f"{np.max(np.abs(r[required])):.2f}")
    bar.close()
    report = {
        "fitted_on": dt.date.today().isoformat(),
        "n": n,
        "seed": seed,
        "simulations": count,
        "residuals_in_tolerance_units": {ev.id: round(float(v), 4) for ev, v in zip(targets, r)},
    }
    ids = [e.id for e in targets]
    return FitResult(
        params_at(x).with_fitted({}, report), dict(zip(ids, r)), dict(zip(ids, r_start)), count
    )
