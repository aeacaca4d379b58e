"""Synthetic cohorts written the way a registry exports them: its own column names, codes,
units (LDH in ukat/L, TMTV in cm3) and day-first dates instead of ages and durations.

The example in `examples/` (`registry_export.csv`, read by `registry_mapping.yaml`) is made by
`python -m synthetic.exports`; the round-trip test of `features.mapping` uses the same code.
Dates have a resolution of one day, so ages and times come back to within half a day.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import OS_EVENT, OS_MONTHS, PFS_EVENT_TYPE, PFS_MONTHS

DAYS_PER_MONTH = 365.25 / 12
DATE_FORMAT = "%d/%m/%Y"
COLUMNS = {  # canonical field -> the registry's column
    "patient_id": "Patient ID",
    "ecog": "ECOG PS",
    "stage": "Ann Arbor stage",
    "extranodal_sites": "Extranodal sites",
    "ldh_u_l": "LDH (ukat/L)",
    "ldh_uln_u_l": "LDH ULN (ukat/L)",
    "ipi": "IPI",
    "aaipi": "aaIPI",
    "tmtv_ml": "TMTV (cm3)",
    "tp53_status": "TP53",
    "prior_lines": "Prior lines",
    "bridging_therapy": "Bridging",
    "ctdna_d28": "ctDNA D28",
    "cart_cmax_per_ul": "CAR-T peak (cells/uL)",
    "best_response": "Best response",
}
CODES = {
    "stage": {1: "I", 2: "II", 3: "III", 4: "IV"},
    "tp53_status": {"altered": "mutated", "wild_type": "wt"},
    "ctdna_d28": {"detectable": "pos", "undetectable": "neg"},
    "bridging_therapy": {
        "none": "No",
        "chemotherapy": "Chemo",
        "radiotherapy": "RT",
        "imid": "IMiD",
        "polatuzumab_br": "Pola-BR",
        "btk_inhibitor": "BTKi",
        "steroids": "Steroids",
        "anti_cd20": "Anti-CD20",
        "other": "Other",
        "bridged_type_unknown": "Yes (type not recorded)",
    },
    "best_response": {c: c for c in ("CR", "PR", "SD", "PD")},
}
UNIT_FACTORS = {"ldh_u_l": 1 / 60, "ldh_uln_u_l": 1 / 60}  # U/L -> ukat/L
MISSING = "NA"


def _date(days: np.ndarray, base: np.ndarray) -> np.ndarray:
    out = base + pd.to_timedelta(np.round(days), unit="D")
    return np.asarray(pd.DatetimeIndex(out).strftime(DATE_FORMAT), dtype=object)


def registry_export(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A canonical cohort (validated frame) as a registry export of strings."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    out = {}
    for name, column in COLUMNS.items():
        values = frame[name].to_numpy(dtype=object)
        if name in CODES:
            cells = [
                MISSING if pd.isna(v) else CODES[name][int(v) if name == "stage" else v]
                for v in values
            ]
        elif name in UNIT_FACTORS:
            cells = [MISSING if pd.isna(v) else repr(float(v) * UNIT_FACTORS[name]) for v in values]
        elif name == "patient_id":
            cells = ["" if pd.isna(v) else str(v) for v in values]
        else:
            cells = [
                MISSING
                if pd.isna(v)
                else (str(int(v)) if float(v).is_integer() else repr(float(v)))
                for v in values
            ]
        out[column] = cells
    infusion = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D")
    infusion = np.asarray(infusion)
    age_days = frame["age_years"].to_numpy(float) * 365.25
    out["Date of birth"] = _date(-age_days, infusion)
    out["Infusion date"] = _date(np.zeros(n), infusion)
    pfs, os_ = frame[PFS_MONTHS].to_numpy(float), frame[OS_MONTHS].to_numpy(float)
    os_event = frame[OS_EVENT].to_numpy(float)
    progression = (frame[PFS_EVENT_TYPE] == "progression").to_numpy()
    days = lambda months: months * DAYS_PER_MONTH  # noqa: E731
    out["Progression date"] = np.where(progression, _date(days(pfs), infusion), "")
    out["Date of death"] = np.where(os_event == 1, _date(days(os_), infusion), "")
    out["Last contact"] = np.where(os_event == 0, _date(days(os_), infusion), "")
    export = pd.DataFrame(out)
    # Registry exports carry columns no mapping reads.
    export["Centre"] = rng.choice(["Lyon", "Lille", "Paris", "Nantes"], n)
    return export


def canonical_outcome_days(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical cohort with ages and times rounded as dates round them (whole days)."""
    out = frame.copy()
    for name in (PFS_MONTHS, OS_MONTHS):
        out[name] = np.round(out[name].to_numpy(float) * DAYS_PER_MONTH) / DAYS_PER_MONTH
    return out


def main(argv: list[str] | None = None) -> None:
    from features.validate import validate_frame
    from synthetic.generator import canonical, simulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=Path("examples/registry_export.csv"))
    args = parser.parse_args(argv)
    frame = validate_frame(
        canonical(simulate(args.n, args.seed)), require_outcomes=True, nan_is_missing=True
    ).frame
    export = registry_export(frame, args.seed)
    # Rows a registry really holds: a code the mapping does not know, impossible dates.
    export.loc[3, "TP53"] = "pending"
    export.loc[7, "Progression date"] = "01/01/2017"
    export.loc[11, "Last contact"] = "31/02/2021"
    export.to_csv(args.out, index=False)
    print(f"wrote {len(export)} rows to {args.out}")


if __name__ == "__main__":
    main()
