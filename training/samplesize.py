"""Is a cohort large enough to develop a model on? Riley et al.'s minimum sample size for a
prediction model of a time-to-event outcome (Stat Med 2019;38:1276-96, Part II; BMJ
2020;368:m441), the criteria the R/Stata package pmsampsize implements. No maintained Python
implementation exists, so the published formulas are written here and held to the worked
example of the paper and of pmsampsize's documentation by a test.

1. expected shrinkage of the predictor effects at most 10%:
   n1 = P / ((S - 1) ln(1 - R2cs / S)), S = 0.9;
2. a small difference (0.05) between the apparent and the adjusted Nagelkerke R2:
   S2 = R2cs / (R2cs + 0.05 max R2cs), n2 as n1 with S2, where
   max R2cs = 1 - exp(2 lnL0 / n) and lnL0 / n = (E/n) ln(E/n) - E/n, E/n = rate x follow-up;
3. the overall risk at the time point estimated within 0.05 (exponential rate, 95% interval).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from features.schema import PFS_EVENT, PFS_MONTHS

# Riley et al.'s conservative default when nothing is known of the model's strength: an
# anticipated Cox-Snell R2 of 15% of its maximum.
DEFAULT_R2_SHARE_OF_MAX = 0.15


@dataclass(frozen=True)
class SampleSize:
    parameters: int
    r2_cs: float
    max_r2_cs: float
    n_shrinkage: int
    n_optimism: int
    n_precision: int
    n_required: int
    events_required: float
    events_per_parameter: float

    def as_dict(self) -> dict:
        return asdict(self)


def _n_for_shrinkage(parameters: int, r2_cs: float, shrinkage: float) -> int:
    return math.ceil(parameters / ((shrinkage - 1) * math.log(1 - r2_cs / shrinkage)))


def max_r2_cs(rate: float, mean_follow_up: float) -> float:
    """The largest Cox-Snell R2 a model of this outcome can reach (Riley et al., Part II)."""
    per_person = rate * mean_follow_up  # events per patient
    log_lik_null = per_person * math.log(per_person) - per_person
    return 1 - math.exp(2 * log_lik_null)


def minimum_sample_size(
    parameters: int,
    rate: float,
    timepoint: float,
    mean_follow_up: float,
    r2_cs: float | None = None,
    shrinkage: float = 0.9,
    r2_difference: float = 0.05,
    risk_margin: float = 0.05,
) -> SampleSize:
    """Riley et al.'s criteria for a time-to-event outcome.

    Parameters
    ----------
    parameters : candidate predictor parameters (encoded columns, not variables).
    rate : overall event rate per unit of time (events / person-time).
    timepoint, mean_follow_up : in the same unit of time as `rate`.
    r2_cs : anticipated Cox-Snell R2 (default: 15% of the maximum).
    """
    top = max_r2_cs(rate, mean_follow_up)
    r2 = DEFAULT_R2_SHARE_OF_MAX * top if r2_cs is None else r2_cs
    if not 0 < r2 < min(top, shrinkage):
        raise ValueError(
            f"anticipated Cox-Snell R2 must be in (0, {min(top, shrinkage):.3f}), got {r2}"
        )
    n1 = _n_for_shrinkage(parameters, r2, shrinkage)
    small_optimism = r2 / (r2 + r2_difference * top)
    n2 = _n_for_shrinkage(parameters, r2, small_optimism)
    risk = 1 - math.exp(-rate * timepoint)

    def margin(n: int) -> float:
        se = math.sqrt(rate / (mean_follow_up * n))
        return max(
            1 - math.exp(-(rate + 1.96 * se) * timepoint) - risk,
            risk - (1 - math.exp(-(rate - 1.96 * se) * timepoint)),
        )

    n3 = 1
    while margin(n3) > risk_margin:
        n3 = max(n3 + 1, int(n3 * 1.05))
    while n3 > 1 and margin(n3 - 1) <= risk_margin:
        n3 -= 1
    n = max(n1, n2, n3)
    events = n * rate * mean_follow_up
    return SampleSize(parameters, r2, top, n1, n2, n3, n, events, events / parameters)


def cohort_sample_size(
    time: np.ndarray,
    event: np.ndarray,
    parameters: int,
    timepoint: float = 12.0,
    r2_cs: float | None = None,
) -> SampleSize:
    """The criteria for a cohort's own event rate and follow-up (months)."""
    time, event = np.asarray(time, float), np.asarray(event, float)
    rate = event.sum() / time.sum()
    return minimum_sample_size(parameters, rate, timepoint, float(time.mean()), r2_cs)


def assess_cohort(frame) -> dict[str, tuple[int, SampleSize]]:
    """Per landmark: the cohort's patients there, and the criteria for a model with that
    landmark's encoded predictors."""
    from features.encode import feature_names
    from features.schema import LANDMARKS
    from training.cohort import landmark_mask

    out = {}
    for lm in LANDMARKS:
        part = frame.loc[landmark_mask(frame, lm)]
        out[lm] = (
            len(part),
            cohort_sample_size(
                part[PFS_MONTHS].to_numpy(float),
                part[PFS_EVENT].to_numpy(float),
                len(feature_names(lm)),
            ),
        )
    return out


def advice(landmark: str, n: int, size: SampleSize) -> str:
    """One line per landmark: the requirement, and what to do when the cohort falls short."""
    head = (
        f"{landmark}: {n} patients; Riley et al.'s minimum for {size.parameters} candidate "
        f"parameters at an anticipated Cox-Snell R2 of {size.r2_cs:.3f} is "
        f"{size.n_required} ({size.events_required:.0f} events)"
    )
    if n >= size.n_required:
        return head + ": large enough"
    return (
        head + ": too small to develop a model of this size reliably (expect the optimism "
        "correction to show overfitting). Pool cohorts (`relapse-risk retrain`), develop "
        "fewer parameters, or validate and recalibrate an existing model on these patients "
        "(`relapse-risk validate`, `relapse-risk recalibrate`)"
    )
