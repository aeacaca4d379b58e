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
    landmark=(Literal[LANDMARK_CHOICES] | None,
              Field(None, description="auto (default): day28 when a day-28 predictor is given")),
    **{f.name: _patient_field(f) for f in FIELDS if f.role != "outcome"},
)


class RiskGroup(BaseModel):
    name: str
    thresholds_12m: list[float] = Field(description="low < first <= intermediate < second <= high")


def _cause(what: str, months: int):
    return Field(None, description=f"cumulative incidence of {what} by {months} months")


def _next(what: str, months: int):
    return Field(None, description=f"probability of {what} within the next {months} months "
                 "for a patient still event-free at event_free_months")


class Curve(BaseModel):
    months: list[float] = Field(description="months from infusion")
    event_free: list[float] = Field(description="probability of being alive without relapse "
                                    "or progression")


class Score(BaseModel):
    patient_id: str | None = None
    risk_6m: float
    risk_12m: float
    risk_24m: float
    # Cumulative incidences of the two causes of a PFS event (risk = relapse + nrm); null
    # only for a model version trained without pfs_event_type.
    relapse_6m: float | None = _cause("relapse or progression", 6)
    relapse_12m: float | None = _cause("relapse or progression", 12)
    relapse_24m: float | None = _cause("relapse or progression", 24)
    nrm_6m: float | None = _cause("death without progression", 6)
    nrm_12m: float | None = _cause("death without progression", 12)
    nrm_24m: float | None = _cause("death without progression", 24)
    cure_probability: float | None = Field(
        None, description="probability of durable remission (never relapsing), from the "
        "mixture-cure model; null when the model version has no cure fraction")
    # For a patient still event-free at event_free_months (null when it was not given, or
    # the version predates dynamic prediction).
    risk_next_6m: float | None = _next("relapse or death", 6)
    relapse_next_6m: float | None = _next("relapse or progression", 6)
    nrm_next_6m: float | None = _next("death without progression", 6)
    risk_next_12m: float | None = _next("relapse or death", 12)
    relapse_next_12m: float | None = _next("relapse or progression", 12)
    nrm_next_12m: float | None = _next("death without progression", 12)
    cure_probability_given_event_free: float | None = Field(
        None, description="probability of durable remission given event-free at "
        "event_free_months (null without event_free_months or a cure fraction)")
    curve: Curve = Field(description="the patient's predicted progression-free survival")
    risk_group: RiskGroup
    contributions: dict[str, float] = Field(
        description="each predictor's contribution to the relapse model (positive raises "
        "risk): log relative hazard, or for a cure model the log-odds of not being cured")
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
    errors: list[ItemError] = Field(default_factory=list,
                                    description="why the item was rejected; empty when scored")


class BatchResult(BaseModel):
    results: list[BatchItem]
    scored: int
    rejected: int
    model_version: str
    notice: str
