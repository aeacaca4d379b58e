"""Calibration on one scale, for assessment and for updating alike: the complementary log-log
scale at 6, 12 and 24 months, with inverse probability of censoring weights (IPCW).

Why this scale. A model's risk by a horizon h is 1 - exp(-H(h | x)), so cloglog(risk) =
log H(h | x), which for a proportional-hazards model is log H0(h) + lp. A population whose
hazard differs proportionally (H' = c H) then reads as intercept log c and slope 1 at every
horizon, and an intercept-only update fixes it; on the logit scale the same shift reads as a
slope below 1 (0.90 for c = exp(0.3) around a 12-month risk of one half), so a gate on logit
slopes refuses the right update. Horizon by horizon rather than a Cox slope on the linear
predictor over the whole follow-up: clinicians read risks at horizons, a cure fraction makes
the predictors' effect differ between horizons (a Cox slope averages that away), and a
two-cause model has no single linear predictor for its total risk.

The model, for observed "event by h" y with weights w (IPCW, times resample counts):

    P(y = 1) = 1 - exp(-(exp(a + b x) + offset))

- assessment (`calibration_slope_intercept`, the gate, `validate`, `evaluate` and the
  optimism of `develop`): x = cloglog(predicted risk by h), offset 0; the slope is b and the
  intercept is a with b fixed at 1 (calibration in the large);
- updating (`training.updating.recalibrate`): x = log of the relapse cumulative hazard by h
  and offset = the NRM cumulative hazard (kept), or x = the linear predictor of a PFS model;
  (a, b) are estimated by the same likelihood, stacked over the three horizons.

Everything here also runs on a stack of bootstrap resamples at once (weights of shape
(resamples, patients), the resample counts times the IPCW weights of that resample): the gate
reads 2,000 resamples of 5,000 patients in seconds.
"""

from __future__ import annotations

import numpy as np

from features.schema import CALIBRATION_HORIZON, HORIZONS_MONTHS

_ETA = (-30.0, 5.0)  # exp(5) = 148: a cumulative hazard past every risk that can be told from 1


def censoring_weights(time: np.ndarray, event: np.ndarray, horizon: float) -> tuple:
    """IPCW labels at a horizon: (known, label, weight).

    Patients with an event by the horizon (label 1) are weighted by 1/G(T-), those followed
    past it (label 0) by 1/G(horizon); those censored before it carry no label but are
    represented through the weights. G is the Kaplan-Meier estimate of censoring
    (`CensoringKM`, held equal to lifelines' by a test).
    """
    time, event = np.asarray(time, float), np.asarray(event, float)
    label, weight = ipcw_weights(time, event, np.ones((1, len(time))), horizon)
    return (label == 1) | (time > horizon), label, weight[0]


def cloglog(risk: np.ndarray) -> np.ndarray:
    """log(-log(1 - risk)): the log cumulative hazard by the horizon."""
    risk = np.clip(np.asarray(risk, float), 1e-9, 1 - 1e-12)
    return np.log(-np.log1p(-risk))


def fit_cloglog(
    x: np.ndarray,
    label: np.ndarray,
    weight: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    slope: float | None = None,
    start: tuple[float, float] = (0.0, 1.0),
    iterations: int = 50,
    tolerance: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of P(y = 1) = 1 - exp(-(exp(a + b x) + offset)) by weighted maximum likelihood.

    Parameters
    ----------
    x, label : (n,) predictor and 0/1 outcome.
    weight : (n,) or (B, n) weights (IPCW times resample counts): B fits at once.
    offset : (n,) cumulative hazard added unchanged (the NRM of a two-cause model), or None.
    slope : b fixed at this value (1 for calibration in the large), or None to estimate it.
    start : (a, b) to start from: the calibrated model by default; the sample's own estimate
        for its resamples, which then converge in two or three steps.

    Returns
    -------
    (a, b): arrays of shape (B,) (floats when `weight` is one-dimensional).

    Newton-Raphson with steps capped at 1; rows of
    weight 0 everywhere (censored before the horizon) are left out of the arithmetic.
    """
    w = np.atleast_2d(np.asarray(weight, float))
    used = w.any(axis=0)
    w = w[:, used]
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    x, y = np.asarray(x, float)[used], np.asarray(label, float)[used]
    off = np.zeros_like(x) if offset is None else np.asarray(offset, float)[used]
    a = np.full(len(w), float(start[0]))
    b = np.full(len(w), float(start[1]) if slope is None else float(slope))
    design = np.stack([np.ones_like(x), x, x * x], 1)
    for _ in range(iterations):
        shared = np.ptp(a) == 0 and np.ptp(b) == 0
        # Every copy at the same (a, b) (the first step from a common start): the per-patient
        # terms are computed once and summed per copy by a matrix product.
        score, info = _newton_terms(
            a[:1, None] + b[:1, None] * x[None, :]
            if shared
            else a[:, None] + b[:, None] * x[None, :],
            y,
            off,
        )
        if shared:
            s = w @ (score[0][:, None] * design[:, :2])
            i = w @ (info[0][:, None] * design)
        else:
            s = np.stack([(w * score).sum(1), (w * score * x).sum(1)], 1)
            wi = w * info
            i = np.stack([wi.sum(1), (wi * x).sum(1), (wi * x * x).sum(1)], 1)
        if slope is None:
            det = np.maximum(i[:, 0] * i[:, 2] - i[:, 1] ** 2, 1e-300)
            step = np.stack(
                [
                    (i[:, 2] * s[:, 0] - i[:, 1] * s[:, 1]) / det,
                    (i[:, 0] * s[:, 1] - i[:, 1] * s[:, 0]) / det,
                ],
                1,
            )
        else:
            step = (s[:, 0] / np.maximum(i[:, 0], 1e-300))[:, None]
        step = np.clip(step, -1.0, 1.0)
        a = a + step[:, 0]
        if slope is None:
            b = b + step[:, 1]
        if np.max(np.abs(step)) < tolerance:
            break
    if np.ndim(weight) == 1:
        return float(a[0]), float(b[0])
    return a, b


def _newton_terms(
    eta: np.ndarray, y: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per patient: d loglik / d eta and Newton's observed information -d2 loglik / d eta2.

    The observed information converges quadratically (the link is not canonical, so Fisher
    scoring's expected information converges only linearly); it is floored at a tenth of the
    expected one, which it equals on average, to stay positive with an offset."""
    lam = np.exp(np.clip(eta, *_ETA))
    p = np.clip(-np.expm1(-(lam + offset)), 1e-12, 1 - 1e-12)
    ratio = lam * (1 - p) / p
    score = lam * (y - p) / p
    info = np.maximum(lam * (1 - y / p) + y * ratio * lam / p, 0.1 * ratio * lam)
    return score, info


def calibration_slope_intercept(
    risk: np.ndarray,
    time,
    event,
    horizon: float = CALIBRATION_HORIZON,
    weights: tuple | None = None,
) -> tuple[float, float]:
    """Calibration slope b and intercept a (with b = 1) of a predicted risk by `horizon`, on
    the complementary log-log scale with IPCW (module docstring). 1 and 0 when calibrated.

    `weights`: `censoring_weights(time, event, horizon)` when already computed.
    """
    known, label, weight = weights or censoring_weights(
        np.asarray(time, float), np.asarray(event), horizon
    )
    x = cloglog(risk)[known]
    y, w = label[known], weight[known]
    _, slope = fit_cloglog(x, y, w)
    intercept, _ = fit_cloglog(x, y, w, slope=1.0)
    return slope, intercept


# -- many resamples at once ------------------------------------------------------------------
def resample_counts(n: int, seed: int, start: int, stop: int) -> np.ndarray:
    """(stop - start, n) counts of each patient in bootstrap resamples start..stop-1; resample
    b is drawn from its own seed (seed, b), so it is the same however the work is split."""
    out = np.empty((stop - start, n))
    for row, b in enumerate(range(start, stop)):
        idx = np.random.default_rng([seed, b]).integers(0, n, n)
        out[row] = np.bincount(idx, minlength=n)
    return out


class CensoringKM:
    """Kaplan-Meier of censoring on each of B weighted copies of one sample (weights: the
    resample counts), as `censoring_weights` computes it on one: G(T_i-) for every patient
    and G(h) at any horizon, for all copies at once."""

    def __init__(self, time: np.ndarray, event: np.ndarray, counts: np.ndarray):
        order = np.argsort(time, kind="stable")
        times, start, inverse = np.unique(time[order], return_index=True, return_inverse=True)
        c = counts[:, order]
        groups = np.add.reduceat(c, start, axis=1)
        censored = np.add.reduceat(c * (np.asarray(event)[order] != 1), start, axis=1)
        at_risk = np.cumsum(groups[:, ::-1], axis=1)[:, ::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(at_risk > 0, 1 - censored / at_risk, 1.0)
        self.times_ = times
        self.after_ = np.cumprod(factor, axis=1)  # G(u_k), censorings at u_k included
        before = np.hstack([np.ones((len(c), 1)), self.after_[:, :-1]])
        self.before_patients_ = np.empty_like(c)
        self.before_patients_[:, order] = before[:, inverse]

    def at(self, horizon: float) -> np.ndarray:
        k = np.searchsorted(self.times_, horizon, side="right") - 1
        return self.after_[:, k] if k >= 0 else np.ones(len(self.after_))


def horizon_figures(
    risks: dict[str, np.ndarray],
    time: np.ndarray,
    event: np.ndarray,
    counts: np.ndarray,
    horizons=HORIZONS_MONTHS,
) -> dict[str, dict]:
    """Per model and horizon, on B resamples at once: the IPCW Brier score, observed (IPCW,
    equal to 1 - Kaplan-Meier), expected (mean predicted), observed/expected, and the
    calibration slope and intercept of this module.

    Parameters
    ----------
    risks : model name -> (n, len(horizons)) predicted risk by each horizon.
    counts : (B, n) each patient's count in each resample (ones for the sample itself).

    Returns
    -------
    model name -> figure name (`brier_12m`, ...) -> (B,) array. A horizon past the follow-up
    or without an event is NaN.
    """
    time, event = np.asarray(time, float), np.asarray(event, float)
    km = CensoringKM(time, event, counts)
    total = counts.sum(axis=1)
    out: dict[str, dict] = {name: {} for name in risks}
    for j, h in enumerate(horizons):
        tag = f"{int(h)}m"
        label, w = ipcw_weights(time, event, counts, h, km)
        case = label == 1
        usable = case.any() and (time > h).any()
        observed = (w * case).sum(axis=1) / total
        for name, risk in risks.items():
            p = np.asarray(risk, float)[:, j]
            f = out[name]
            if not usable:
                for k in (
                    "brier",
                    "observed",
                    "expected",
                    "observed_expected",
                    "calibration_slope",
                    "calibration_intercept",
                ):
                    f[f"{k}_{tag}"] = np.full(len(counts), np.nan)
                continue
            f[f"brier_{tag}"] = (w * np.where(case, (1 - p) ** 2, p**2)).sum(axis=1) / total
            expected = (counts * p).sum(axis=1) / total
            f[f"observed_{tag}"], f[f"expected_{tag}"] = observed, expected
            f[f"observed_expected_{tag}"] = observed / expected
            x = cloglog(p)
            # Each resample's fit starts from the whole sample's (weights of copy 0 when the
            # caller put the sample itself first, else the first resample's).
            a0, b0 = fit_cloglog(x, case, w[0])
            c0, _ = fit_cloglog(x, case, w[0], slope=1.0)
            # Two Newton steps from there: the first shared by every resample (a matrix
            # product), the second leaves an error of order 1e-5, far below the Monte Carlo
            # error of any interval read from a few thousand resamples.
            f[f"calibration_slope_{tag}"] = fit_cloglog(x, case, w, start=(a0, b0), iterations=2)[1]
            f[f"calibration_intercept_{tag}"] = fit_cloglog(
                x, case, w, slope=1.0, start=(c0, 1.0), iterations=2
            )[0]
    return out


def ipcw_weights(
    time: np.ndarray,
    event: np.ndarray,
    counts: np.ndarray,
    horizon: float,
    km: CensoringKM | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(label, weights): "event by `horizon`" and, per copy (row of `counts`), its count
    times its IPCW weight (0 for patients censored before the horizon)."""
    km = km or CensoringKM(time, event, counts)
    case = (event == 1) & (time <= horizon)
    w = counts * np.where(case, 1 / np.maximum(km.before_patients_, 1e-6), 0.0)
    w += counts * np.where(time > horizon, 1 / np.maximum(km.at(horizon), 1e-6)[:, None], 0.0)
    return case.astype(float), w


def fit_horizons(
    x: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    slope: float | None = None,
    counts: np.ndarray | None = None,
    horizons=HORIZONS_MONTHS,
    start: tuple[float, float] = (0.0, 1.0),
    iterations: int = 50,
):
    """One (a, b) for all `horizons` at once: `fit_cloglog` on the horizons' IPCW
    likelihoods stacked, each horizon's weights summing to one (each counts alike), so the
    update is what calibrates the model over the curve rather than at one point of it.

    x, offset : (n, len(horizons)) per patient and horizon. counts : (B, n) resample counts
    (None: the sample itself). Horizons without an event or anyone followed past them are
    left out. Returns floats, or (B,) arrays with `counts`.
    """
    time, event = np.asarray(time, float), np.asarray(event, float)
    c = np.ones((1, len(time))) if counts is None else counts
    km = CensoringKM(time, event, c)
    xs, ys, ws, offs = [], [], [], []
    for j, h in enumerate(horizons):
        label, w = ipcw_weights(time, event, c, h, km)
        if not label.any() or not (time > h).any():
            continue
        xs.append(x[:, j])
        ys.append(label)
        ws.append(w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300))
        offs.append(np.zeros(len(time)) if offset is None else offset[:, j])
    weights = np.hstack(ws)
    a, b = fit_cloglog(
        np.concatenate(xs),
        np.concatenate(ys),
        weights[0] if counts is None else weights,
        offset=np.concatenate(offs),
        slope=slope,
        start=start,
        iterations=iterations,
    )
    return a, b
