"""The Post-CAR Prognostic Index (PC-PI; Iacoboni et al., J Hematol Oncol 2024): the published
reference score after CAR-T failure, computed from the canonical fields at progression.

Five factors, all assessed at progression: ECOG > 0, haemoglobin < 10 g/dL, LDH >= 2 x ULN,
more than one extranodal site, and less than 4 months from infusion to progression. The
paper's abstract (the part that could be read) gives the factors, four risk groups and their
shares and median OS in the external validation, but not the points each factor carries.
Assumed here, and said wherever the score is shown: one point per factor (0-5), with groups
low 0-1, intermediate-low 2, intermediate-high 3 and high 4-5. The calibration check compares
the groups' shares and medians with the published ones, so a wrong assumption shows there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# (name, rule in words, canonical fields it reads)
FACTORS = (
    ("ecog_above_0", "ECOG > 0", ("ecog_at_progression",)),
    ("haemoglobin_below_10", "haemoglobin < 10 g/dL", ("haemoglobin_at_progression_g_dl",)),
    ("ldh_2x_uln", "LDH >= 2 x ULN", ("ldh_at_progression_u_l", "ldh_uln_at_progression_u_l")),
    ("extranodal_above_1", "more than one extranodal site", ("extranodal_sites_at_progression",)),
    (
        "progression_within_4m",
        "less than 4 months from infusion to progression",
        ("progression_months",),
    ),
)
POINTS_PER_FACTOR = 1  # assumed (see the module docstring)
# (lowest score, highest score, group)
GROUPS = ((0, 1, "low"), (2, 2, "intermediate-low"), (3, 3, "intermediate-high"), (4, 5, "high"))
GROUP_NAMES = tuple(g for _, _, g in GROUPS)
ASSUMPTION = (
    "PC-PI points assumed: 1 per factor (0-5); groups low 0-1, intermediate-low 2, "
    "intermediate-high 3, high 4-5 (the published weights could not be read)"
)


def factor_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each factor per row: 1.0 present, 0.0 absent, NaN unknown."""
    num = lambda name: frame[name].to_numpy(dtype=float)  # noqa: E731
    ldh, uln = num("ldh_at_progression_u_l"), num("ldh_uln_at_progression_u_l")
    with np.errstate(invalid="ignore"):
        present = {
            "ecog_above_0": num("ecog_at_progression") > 0,
            "haemoglobin_below_10": num("haemoglobin_at_progression_g_dl") < 10,
            "ldh_2x_uln": ldh >= 2 * uln,
            "extranodal_above_1": num("extranodal_sites_at_progression") > 1,
            "progression_within_4m": num("progression_months") < 4,
        }
    unknown = {
        "ecog_above_0": np.isnan(num("ecog_at_progression")),
        "haemoglobin_below_10": np.isnan(num("haemoglobin_at_progression_g_dl")),
        "ldh_2x_uln": np.isnan(ldh) | np.isnan(uln),
        "extranodal_above_1": np.isnan(num("extranodal_sites_at_progression")),
        "progression_within_4m": np.isnan(num("progression_months")),
    }
    return pd.DataFrame(
        {k: np.where(unknown[k], np.nan, present[k].astype(float)) for k in present},
        index=frame.index,
    )


def score(frame: pd.DataFrame) -> np.ndarray:
    """PC-PI points per row (NaN when a factor is unknown: the index is never guessed)."""
    return factor_table(frame).to_numpy(float).sum(axis=1) * POINTS_PER_FACTOR


def group(points) -> np.ndarray:
    """Risk group of each score (None where the score is unknown)."""
    points = np.asarray(points, dtype=float)
    out = np.full(points.shape, None, dtype=object)
    for lo, hi, name in GROUPS:
        out[(points >= lo) & (points <= hi)] = name
    return out


def score_record(record: dict) -> dict:
    """PC-PI for one typed record: points, group, each factor, and the unknown factors."""
    row = pd.DataFrame([{n: record.get(n) for _, _, names in FACTORS for n in names}])
    row = row.astype(float)
    factors = factor_table(row).iloc[0]
    unknown = [name for name, _, _ in FACTORS if math.isnan(factors[name])]
    points = None if unknown else int(factors.sum()) * POINTS_PER_FACTOR
    return {
        "points": points,
        "group": None if points is None else str(group([points])[0]),
        "factors": {
            name: (None if math.isnan(factors[name]) else bool(factors[name]))
            for name, _, _ in FACTORS
        },
        "unknown_factors": unknown,
        "assumption": ASSUMPTION,
    }
