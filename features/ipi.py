"""IPI and age-adjusted IPI from their components, vectorised.

A component that is unknown leaves the index unknown unless the index itself was given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The IPI's thresholds (Shipp et al., NEJM 1993), defined once: the encoder, validation and
# the generator import them. Each component is 1 when age > AGE_ABOVE years, Ann Arbor stage
# >= STAGE_FROM (III-IV), ECOG >= ECOG_FROM, LDH above the lab's upper limit, and more than
# EXTRANODAL_ABOVE extranodal sites; aaIPI counts stage, ECOG and LDH.
AGE_ABOVE = 60
STAGE_FROM = 3
ECOG_FROM = 2
EXTRANODAL_ABOVE = 1
PARTS = {
    "ipi": (
        f"age > {AGE_ABOVE}, stage III-IV, ECOG >= {ECOG_FROM}, LDH > ULN, extranodal "
        f"sites > {EXTRANODAL_ABOVE}"
    ),
    "aaipi": f"stage III-IV, ECOG >= {ECOG_FROM}, LDH > ULN",
}


def ipi_components(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each IPI component as a float array: 1.0 true, 0.0 false, NaN unknown.

    Parameters
    ----------
    frame : DataFrame
        Typed canonical columns (numbers as float with NaN for missing).
    """

    def cond(values: np.ndarray, test) -> np.ndarray:
        out = np.where(test(values), 1.0, 0.0)
        out[np.isnan(values)] = np.nan
        return out

    col = lambda name: frame[name].to_numpy(dtype=float)  # noqa: E731
    ldh, uln = col("ldh_u_l"), col("ldh_uln_u_l")
    ldh_elevated = np.where(ldh > uln, 1.0, 0.0)
    ldh_elevated[np.isnan(ldh) | np.isnan(uln)] = np.nan
    return {
        "age": cond(col("age_years"), lambda v: v > AGE_ABOVE),
        "stage": cond(col("stage"), lambda v: v >= STAGE_FROM),
        "ecog": cond(col("ecog"), lambda v: v >= ECOG_FROM),
        "ldh": ldh_elevated,
        "extranodal": cond(col("extranodal_sites"), lambda v: v > EXTRANODAL_ABOVE),
    }


def _bounds(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest index the known components allow."""
    stacked = np.vstack(parts)
    low = np.nansum(stacked, axis=0)
    high = low + np.isnan(stacked).sum(axis=0)
    return low, high


def ipi_bounds(components: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Range of IPI values consistent with the known components (equal when all are known)."""
    return _bounds(list(components.values()))


def aaipi_bounds(components: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Range of aaIPI values (stage, ECOG, LDH) consistent with the known components."""
    return _bounds([components["stage"], components["ecog"], components["ldh"]])
