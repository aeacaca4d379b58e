"""Canonical patient columns: the single source of truth for every clinical field.

Owns names, types, units, valid ranges, categories, landmarks and the evidence entry each
predictor rests on; validation, encoding, the CSV reader and the service are built from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

SCHEMA_VERSION = "1.1.0"

# Carried by every response, file and report the project writes (shared contract, DESIGN.md).
RESEARCH_USE_NOTICE = (
    "For research use only. Not a medical device; not for clinical decisions. "
    "Models are trained on synthetic cohorts calibrated to published figures."
)

INFUSION = "infusion"
DAY28 = "day28"
# The PFS landmarks (risk of a PFS event, time from infusion): what training, evaluation and
# model updating loop over.
LANDMARKS = (INFUSION, DAY28)
# After CAR-T failure: overall survival from progression (its own outcome and model).
PROGRESSION = "progression"
ALL_LANDMARKS = (*LANDMARKS, PROGRESSION)
# What a caller may ask for: a landmark, or AUTO (progression when a field assessed at
# progression is given, else day 28 when a day-28 predictor is given, else infusion).
AUTO = "auto"
LANDMARK_CHOICES = (AUTO, *ALL_LANDMARKS)


def require_landmark(landmark, allowed: tuple[str, ...] = ALL_LANDMARKS) -> str:
    """`landmark` if it is one of `allowed`, else a ValueError naming the choices (the one
    check every layer uses; `features.validate.check_landmark` turns a caller's value into
    a SchemaError first)."""
    if landmark not in allowed:
        raise ValueError(f"landmark must be one of {', '.join(allowed)}, got {landmark!r}")
    return landmark


# Dynamic prediction: the months since infusion a patient has been event-free (a condition
# on the score, not a predictor).
EVENT_FREE_MONTHS = "event_free_months"
# The outcome columns, each name written once: every module imports these (a test greps).
PFS_MONTHS = "pfs_months"
PFS_EVENT = "pfs_event"
PFS_EVENT_TYPE = "pfs_event_type"
OS_MONTHS = "os_months"
OS_EVENT = "os_event"
# The horizons of the PFS landmarks' risks (6, 12 and 24 months: the published landmark
# analyses) and of the progression landmark's (3, 6 and 12: median OS after CAR-T failure
# is 5.5 months), and the one the calibration figures and risk groups use.
HORIZONS_MONTHS = (6.0, 12.0, 24.0)
PROGRESSION_HORIZONS_MONTHS = (3.0, 6.0, 12.0)
CALIBRATION_HORIZON = 12.0


def horizon_columns(prefix: str, horizons: tuple[float, ...] = HORIZONS_MONTHS) -> tuple[str, ...]:
    """The score's column per horizon: `horizon_columns("risk")` is risk_6m, risk_12m,
    risk_24m."""
    return tuple(f"{prefix}_{h:g}m" for h in horizons)


BRIDGING_CATEGORIES = (
    "none",
    "chemotherapy",
    "radiotherapy",
    "imid",
    "polatuzumab_br",
    "btk_inhibitor",
    "steroids",
    "anti_cd20",
    "other",
    # Bridged, but the registry does not record with what: the encoding sets "any bridging"
    # and no type (the shared bridging effect without a type-specific one); never a guess.
    "bridged_type_unknown",
)
# Codes of bridging_therapy that name a type (one indicator each in the encoding).
BRIDGING_TYPES = tuple(c for c in BRIDGING_CATEGORIES if c not in ("none", "bridged_type_unknown"))


@dataclass(frozen=True)
class Field:
    """One canonical column.

    Parameters
    ----------
    name : str
        CSV header and JSON field name.
    kind : {"number", "integer", "category", "string"}
    role : {"id", "predictor", "condition", "outcome"}
        A condition changes what is asked of the model (`event_free_months`), not the
        patient's predictors.
    unit : str or None
    minimum, maximum : float or None
        Inclusive valid range for numbers and integers.
    categories : tuple of str
        Allowed codes for a category.
    landmark : {"infusion", "day28", "progression"} or None
        The first landmark at which a predictor is known.
    evidence : tuple of str
        Ids of the evidence-table entries the predictor rests on.
    reference : float or None
        Value the encoding writes when the predictor is missing (beside a missing indicator).
    """

    name: str
    kind: str
    role: str
    description: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    landmark: str | None = None
    evidence: tuple[str, ...] = ()
    reference: float | None = None

    def describe_range(self) -> str:
        """Say in words what a valid value is (used in error messages and forms)."""
        if self.kind == "category":
            return "one of " + ", ".join(repr(c) for c in self.categories)
        if self.kind == "string":
            return "a string"
        word = "an integer" if self.kind == "integer" else "a number"
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and self.maximum is not None:
            return f"{word} from {_fmt(self.minimum)} to {_fmt(self.maximum)}{unit}"
        if self.minimum is not None:
            return f"{word} >= {_fmt(self.minimum)}{unit}"
        return word


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


FIELDS: tuple[Field, ...] = (
    Field("patient_id", "string", "id", "Identifier, echoed back and never logged."),
    Field(
        "age_years",
        "number",
        "predictor",
        "Age at infusion.",
        "years",
        0,
        120,
        landmark=INFUSION,
        evidence=("mc514_hr_pfs_age", "mc514_age_median"),
        reference=60,
    ),
    Field(
        "ecog",
        "integer",
        "predictor",
        "ECOG performance status.",
        None,
        0,
        4,
        landmark=INFUSION,
        evidence=("mc514_ecog01",),
        reference=1,
    ),
    Field(
        "stage",
        "integer",
        "predictor",
        "Ann Arbor stage.",
        None,
        1,
        4,
        landmark=INFUSION,
        evidence=("mc514_hr_pfs_stage", "mc514_stage34"),
        reference=4,
    ),
    Field(
        "extranodal_sites",
        "integer",
        "predictor",
        "Number of extranodal sites.",
        None,
        0,
        30,
        landmark=INFUSION,
        evidence=("review_tmtv_early_resistance",),
        reference=1,
    ),
    Field(
        "ldh_u_l",
        "number",
        "predictor",
        "Lactate dehydrogenase before lymphodepletion.",
        "U/L",
        1,
        50000,
        landmark=INFUSION,
        evidence=("mc514_hr_pfs_ldh", "mc514_ldh_elevated"),
        reference=250,
    ),
    Field(
        "ldh_uln_u_l",
        "number",
        "predictor",
        "The lab's upper limit of normal for LDH (elevated = ldh_u_l > ldh_uln_u_l).",
        "U/L",
        50,
        2000,
        landmark=INFUSION,
        evidence=("mc514_hr_pfs_ldh",),
        reference=250,
    ),
    Field(
        "ipi",
        "integer",
        "predictor",
        "International Prognostic Index.",
        None,
        0,
        5,
        landmark=INFUSION,
        evidence=("mc514_hr_pfs_ipi", "mc514_hr_os_ipi", "mc514_ipi_3"),
        reference=2,
    ),
    Field(
        "aaipi",
        "integer",
        "predictor",
        "Age-adjusted IPI.",
        None,
        0,
        3,
        landmark=INFUSION,
        evidence=("review_aaipi",),
        reference=1,
    ),
    Field(
        "tmtv_ml",
        "number",
        "predictor",
        "Total metabolic tumour volume on baseline PET.",
        "mL",
        0,
        20000,
        landmark=INFUSION,
        evidence=("review_tmtv_early_resistance",),
        reference=50,
    ),
    Field(
        "tp53_status",
        "category",
        "predictor",
        "TP53 status of the tumour.",
        categories=("altered", "wild_type"),
        landmark=INFUSION,
        evidence=("review_tp53_cr_altered", "review_tp53_cr_wild_type"),
    ),
    Field(
        "prior_lines",
        "integer",
        "predictor",
        "Lines of therapy before CAR-T.",
        None,
        1,
        15,
        landmark=INFUSION,
        reference=2,
        evidence=("mc514_hr_pfs_lines", "mc514_hr_os_lines", "review_early_cart_efs"),
    ),
    Field(
        "bridging_therapy",
        "category",
        "predictor",
        "Bridging therapy before infusion.",
        categories=BRIDGING_CATEGORIES,
        landmark=INFUSION,
        evidence=("mc514_hr_pfs_bridging", "mc514_bridging"),
    ),
    Field(
        "ctdna_d28",
        "category",
        "predictor",
        "Circulating tumour DNA at day 28.",
        categories=("detectable", "undetectable"),
        landmark=DAY28,
        evidence=("review_ctdna_d28_detectable", "review_ctdna_d28_undetectable"),
    ),
    Field(
        "cart_cmax_per_ul",
        "number",
        "predictor",
        "CAR-T peak expansion in blood.",
        "cells/uL",
        0,
        100000,
        landmark=DAY28,
        evidence=("review_cmax_responders", "review_cmax_non_responders"),
        reference=10,
    ),
    # Assessed at progression after CAR-T (the progression landmark; PC-PI's five factors are
    # among them). Blank unless the patient progressed.
    Field(
        "progression_months",
        "number",
        "predictor",
        "Months from infusion to progression or relapse after CAR-T (in a cohort with "
        "outcomes it is pfs_months of a progression, and filled from it when blank).",
        "months",
        0,
        600,
        landmark=PROGRESSION,
        evidence=("pcpi_time_to_progression", "descart_failure_by_d30"),
        reference=3,
    ),
    Field(
        "ecog_at_progression",
        "integer",
        "predictor",
        "ECOG performance status at progression.",
        None,
        0,
        4,
        landmark=PROGRESSION,
        evidence=("pcpi_factors",),
        reference=1,
    ),
    Field(
        "ldh_at_progression_u_l",
        "number",
        "predictor",
        "LDH at progression.",
        "U/L",
        1,
        50000,
        landmark=PROGRESSION,
        evidence=("pcpi_factors", "descart_failure_ldh"),
        reference=250,
    ),
    Field(
        "ldh_uln_at_progression_u_l",
        "number",
        "predictor",
        "The lab's upper limit of normal for LDH at progression.",
        "U/L",
        50,
        2000,
        landmark=PROGRESSION,
        evidence=("pcpi_factors",),
        reference=250,
    ),
    Field(
        "haemoglobin_at_progression_g_dl",
        "number",
        "predictor",
        "Haemoglobin at progression (g/L and mmol/L are converted by a mapping).",
        "g/dL",
        3,
        20,
        landmark=PROGRESSION,
        evidence=("pcpi_factors",),
        reference=11,
    ),
    Field(
        "extranodal_sites_at_progression",
        "integer",
        "predictor",
        "Number of extranodal sites at progression.",
        None,
        0,
        30,
        landmark=PROGRESSION,
        evidence=("pcpi_factors",),
        reference=1,
    ),
    Field(
        "cd19_at_progression",
        "category",
        "predictor",
        "CD19 expression of the relapse biopsy (immunohistochemistry or flow cytometry).",
        categories=("positive", "low", "negative"),
        landmark=PROGRESSION,
        evidence=(
            "review_cd19_negative_relapse",
            "cd20_cd19_negative_or_low",
            "spiegel_cd19_negative_or_low",
        ),
    ),
    Field(
        EVENT_FREE_MONTHS,
        "number",
        "condition",
        "Months since infusion the patient has been alive without relapse or progression "
        "(optional): adds the risks over the next 6 and 12 months and, with a cure "
        "fraction, the probability of durable remission, for a patient still in remission.",
        "months",
        0,
        24,
    ),
    Field(
        PFS_MONTHS,
        "number",
        "outcome",
        "Time from infusion to PFS event or censoring.",
        "months",
        0,
        600,
    ),
    Field(
        PFS_EVENT,
        "integer",
        "outcome",
        "1 = progression, relapse or death; 0 = censored.",
        None,
        0,
        1,
    ),
    Field(
        PFS_EVENT_TYPE,
        "category",
        "outcome",
        "Cause of the PFS event: progression/relapse, or death without progression "
        "(non-relapse mortality); blank when censored or not recorded.",
        categories=("progression", "death"),
    ),
    Field(
        OS_MONTHS,
        "number",
        "outcome",
        "Time from infusion to death or censoring.",
        "months",
        0,
        600,
    ),
    Field(OS_EVENT, "integer", "outcome", "1 = death; 0 = censored.", None, 0, 1),
    Field(
        "best_response",
        "category",
        "outcome",
        "Best overall response.",
        categories=("CR", "PR", "SD", "PD"),
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
PREDICTORS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role == "predictor")
OUTCOMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role == "outcome")
CONDITIONS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role == "condition")
DAY28_PREDICTORS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.landmark == DAY28)
INFUSION_PREDICTORS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.landmark == INFUSION)
PROGRESSION_PREDICTORS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.landmark == PROGRESSION)
# The fields measured at progression (all but the time to it, which is also an outcome time).
AT_PROGRESSION_FIELDS: tuple[str, ...] = tuple(
    n for n in PROGRESSION_PREDICTORS if n != "progression_months"
)


def schema_hash() -> str:
    """SHA-256 of the schema's content, recorded with every trained model."""
    payload = json.dumps([asdict(f) for f in FIELDS], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


def describe_schema() -> list[dict]:
    """The schema as plain dicts (for the service, forms and documentation)."""
    return [asdict(f) for f in FIELDS]
