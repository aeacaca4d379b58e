"""Request and response models of the service, built from the feature schema (not beside it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from features.schema import FIELDS, LANDMARK_CHOICES


def _patient_field(f):
    description = f.description + (f" Unit: {f.unit}." if f.unit else "")
    if f.kind == "category":
        annotation = Literal[tuple(f.categories)] | None
    elif f.kind == "string":
        annotation = str | None
    else:
        number = int if f.kind == "integer" else float
        annotation = number | None
    bounds = {} if f.minimum is None else {"ge": f.minimum}
    if f.maximum is not None:
        bounds["le"] = f.maximum
    return annotation, Field(None, description=description, **bounds)


Patient = create_model(
    "Patient",
    __config__=ConfigDict(extra="forbid", hide_input_in_errors=True),
    landmark=(
        Literal[LANDMARK_CHOICES] | None,
        Field(
            None,
            description="auto (default): progression when a field at "
            "progression is given (and the model version has a progression model), "
            "else day28 when a day-28 predictor is given, else infusion",
        ),
    ),
    **{f.name: _patient_field(f) for f in FIELDS if f.role != "outcome"},
)


class RiskGroup(BaseModel):
    name: str
    thresholds_12m: list[float] = Field(
        description="low < first <= intermediate < second <= "
        "high (at progression: of the 6-month death risk)"
    )
    horizon_months: float = Field(12.0, description="the horizon the thresholds apply to")


def _cause(what: str, months: int):
    return Field(None, description=f"cumulative incidence of {what} by {months} months")


def _next(what: str, months: int):
    return Field(
        None,
        description=f"probability of {what} within the next {months} months "
        "for a patient still event-free at event_free_months",
    )


class Curve(BaseModel):
    months: list[float] = Field(description="months from infusion")
    event_free: list[float] = Field(
        description="probability of being alive without relapse or progression"
    )


class OsCurve(BaseModel):
    """Overall survival from progression (empty lists at the PFS landmarks)."""

    months: list[float] = Field(default_factory=list, description="months from progression")
    alive: list[float] = Field(
        default_factory=list, description="predicted probability of being alive"
    )
    population_alive: list[float] = Field(
        default_factory=list,
        description="Kaplan-Meier survival of the training cohort's progressions",
    )


def _death(months: int):
    return Field(
        None,
        description=f"at progression: probability of death (any cause) within "
        f"{months} months of progression; null at the PFS landmarks",
    )


class Score(BaseModel):
    patient_id: str | None = None
    # PFS risks (null at the progression landmark, whose outcome is survival after it).
    risk_6m: float | None = Field(
        None, description="probability of relapse, progression or death by 6 months after infusion"
    )
    risk_12m: float | None = Field(None, description="the same by 12 months")
    risk_24m: float | None = Field(None, description="the same by 24 months")
    death_3m: float | None = _death(3)
    death_6m: float | None = _death(6)
    death_12m: float | None = _death(12)
    median_os_months: float | None = Field(
        None,
        description="at progression: predicted median OS from progression (null when "
        "not reached within 24 months, and at the PFS landmarks)",
    )
    pcpi_points: int | None = Field(
        None,
        description="Post-CAR Prognostic Index points (1 per factor, assumed); null when "
        "a factor is unknown or at the PFS landmarks",
    )
    pcpi_group: str | None = Field(
        None, description="PC-PI risk group (low, intermediate-low, intermediate-high, high)"
    )
    pcpi_unknown_factors: list[str] = Field(
        default_factory=list, description="PC-PI factors that are unknown"
    )
    os_curve: OsCurve = Field(default_factory=OsCurve)
    # Cumulative incidences of the two causes of a PFS event (risk = relapse + nrm); null
    # only for a model version trained without pfs_event_type.
    relapse_6m: float | None = _cause("relapse or progression", 6)
    relapse_12m: float | None = _cause("relapse or progression", 12)
    relapse_24m: float | None = _cause("relapse or progression", 24)
    nrm_6m: float | None = _cause("death without progression", 6)
    nrm_12m: float | None = _cause("death without progression", 12)
    nrm_24m: float | None = _cause("death without progression", 24)
    cure_probability: float | None = Field(
        None,
        description="probability of durable remission (never relapsing), from the "
        "mixture-cure model; null when the model version has no cure fraction",
    )
    # For a patient still event-free at event_free_months (null when it was not given, or
    # the version predates dynamic prediction).
    risk_next_6m: float | None = _next("relapse or death", 6)
    relapse_next_6m: float | None = _next("relapse or progression", 6)
    nrm_next_6m: float | None = _next("death without progression", 6)
    risk_next_12m: float | None = _next("relapse or death", 12)
    relapse_next_12m: float | None = _next("relapse or progression", 12)
    nrm_next_12m: float | None = _next("death without progression", 12)
    cure_probability_given_event_free: float | None = Field(
        None,
        description="probability of durable remission given event-free at "
        "event_free_months (null without event_free_months or a cure fraction)",
    )
    curve: Curve = Field(description="the patient's predicted progression-free survival")
    risk_group: RiskGroup
    contributions: dict[str, float] = Field(
        description="each predictor's contribution to the relapse model (positive raises "
        "risk): log relative hazard, or for a cure model the log-odds of not being cured"
    )
    missing_predictors: list[str]
    landmark: str
    model_version: str
    notice: str


class ItemError(BaseModel):
    field: str
    value: str
    error: str


class BatchItem(BaseModel):
    index: int
    score: Score | None = Field(None, description="null when the item was rejected")
    # Always a list (empty when scored): BentoML's clients cannot decode a null list.
    errors: list[ItemError] = Field(
        default_factory=list, description="why the item was rejected; empty when scored"
    )


class BatchResult(BaseModel):
    results: list[BatchItem]
    scored: int
    rejected: int
    model_version: str
    notice: str
