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
    risk_group: RiskGroup
    contributions: dict[str, float] = Field(
        description="log relative hazard contributed by each predictor (positive raises risk)")
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
