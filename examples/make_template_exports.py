"""Writes the fake exports the registry templates read: `cibmtr_forms_export.csv` (a table whose
columns follow the CIBMTR cellular-therapy forms' questions) and `ebmt_med_a_export.xlsx` (an
EBMT MED-A-style workbook), 40 synthetic patients each. Every value is simulated; the column
names and codes are explained, with what could and could not be confirmed, in
`cibmtr_forms_mapping.yaml` and `ebmt_med_a_mapping.yaml`.

    python examples/make_template_exports.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N, SEED = 40, 2026
SYSTEMIC = "Systemic therapy"
CIBMTR_BRIDGING = {
    "No": "No",
    "Chemo": SYSTEMIC,
    "Pola-BR": SYSTEMIC,
    "BTKi": SYSTEMIC,
    "IMiD": SYSTEMIC,
    "Steroids": SYSTEMIC,
    "Anti-CD20": SYSTEMIC,
    "RT": "Radiation therapy",
    "Other": "Other therapy",
    "Yes (type not recorded)": SYSTEMIC,
}


def _source() -> pd.DataFrame:
    from features.validate import validate_frame
    from synthetic.exports import registry_export
    from synthetic.generator import canonical, simulate

    frame = validate_frame(
        canonical(simulate(N, SEED)), require_outcomes=True, nan_is_missing=True
    ).frame.reset_index(drop=True)
    return registry_export(frame, SEED)


def _iso(dates: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(dates.replace("", None), format="%d/%m/%Y")
    return parsed.dt.strftime("%Y-%m-%d").fillna("")


def cibmtr_export(src: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    na = lambda s, token="Unknown": s.replace("NA", token)  # noqa: E731
    ldh = pd.to_numeric(src["LDH (ukat/L)"], errors="coerce") * 60
    uln = pd.to_numeric(src["LDH ULN (ukat/L)"], errors="coerce") * 60
    return pd.DataFrame(
        {
            "CRID": [f"{100000 + i}" for i in range(len(src))],
            "Date of birth": _iso(src["Date of birth"]),
            "Date of product infusion": _iso(src["Infusion date"]),
            "Karnofsky/Lansky score": rng.choice(["70", "80", "90", "100"], len(src)),
            "Stage at diagnosis": na(src["Ann Arbor stage"]).map(
                lambda s: s if s == "Unknown" else f"Stage {s}"
            ),
            "Number of extranodal sites": na(src["Extranodal sites"]),
            "LDH (U/L)": ldh.round().astype("Int64").astype(str).replace("<NA>", "Unknown"),
            "LDH upper limit of normal (U/L)": uln.round()
            .astype("Int64")
            .astype(str)
            .replace("<NA>", "Unknown"),
            "Number of lines of therapy before CT": na(src["Prior lines"]),
            "TP53 mutation": src["TP53"].map({"mutated": "Yes", "wt": "No", "NA": "Not done"}),
            "Bridging therapy": src["Bridging"].map(CIBMTR_BRIDGING),
            "Best response to cellular therapy": src["Best response"].map(
                {
                    "CR": "Complete remission (CR)",
                    "PR": "Partial remission (PR)",
                    "SD": "Stable disease (SD)",
                    "PD": "Progressive disease (PD)",
                }
            ),
            "Date of relapse/progression": _iso(src["Progression date"]),
            "Date of death": _iso(src["Date of death"]),
            "Date of actual contact": _iso(src["Last contact"]),
        }
    )


def ebmt_export(src: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 1)
    date = lambda c: pd.to_datetime(src[c].replace("", None), format="%d/%m/%Y")  # noqa: E731
    ecog = pd.to_numeric(src["ECOG PS"], errors="coerce")
    ldh = pd.to_numeric(src["LDH (ukat/L)"], errors="coerce")
    uln = pd.to_numeric(src["LDH ULN (ukat/L)"], errors="coerce")
    return pd.DataFrame(
        {
            "CIC": rng.choice([201, 407, 735], len(src)),
            "UPN": [f"UPN-{i + 1:04d}" for i in range(len(src))],
            "Date of birth": date("Date of birth"),
            "Date of cellular therapy": date("Infusion date"),
            "Performance score system": np.where(ecog.isna(), None, "ECOG"),
            "Performance score": ecog,
            "Stage at diagnosis (Ann Arbor)": src["Ann Arbor stage"].replace("NA", None),
            "LDH": np.where(ldh.isna(), "Not evaluated", np.where(ldh > uln, "Elevated", "Normal")),
            "Bridging therapy": src["Bridging"].map(lambda b: "No" if b == "No" else "Yes"),
            "Best response": src["Best response"].map(
                {
                    "CR": "Complete remission",
                    "PR": "Partial remission",
                    "SD": "Stable disease / no response",
                    "PD": "Progression",
                }
            ),
            "Date of first relapse or progression": date("Progression date"),
            "Date of death": date("Date of death"),
            "Date of last contact": date("Last contact"),
            "Survival status": np.where(src["Date of death"] != "", "Dead", "Alive"),
        }
    )


def main() -> None:
    src = _source()
    cibmtr_export(src).to_csv(HERE / "cibmtr_forms_export.csv", index=False)
    ebmt_export(src).to_excel(
        HERE / "ebmt_med_a_export.xlsx", index=False, sheet_name="MED-A export"
    )
    print(f"wrote {N} rows to examples/cibmtr_forms_export.csv and examples/ebmt_med_a_export.xlsx")


if __name__ == "__main__":
    main()
