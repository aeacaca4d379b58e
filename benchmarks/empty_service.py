"""The floor for the serving benchmark: a BentoML endpoint with the same input schema and
response model as /score that does no work (no auth, no validation, no model)."""

import bentoml

from features.schema import FIELDS, RESEARCH_USE_NOTICE
from model_registry.scoring import CURVE_MONTHS
from serving.schemas import Curve, Patient, RiskGroup, Score
from serving.service import ScoreInput

FIXED = Score(
    patient_id=None,
    risk_6m=0.1,
    risk_12m=0.2,
    risk_24m=0.3,
    risk_group=RiskGroup(name="low", thresholds_12m=[0.3, 0.6]),
    # A response of the same size as a real one: every predictor's contribution.
    contributions={
        f.name: 0.01 for f in FIELDS if f.role == "predictor" and f.landmark == "infusion"
    },
    # ... and the patient's curve.
    curve=Curve(months=list(CURVE_MONTHS), event_free=[0.5] * len(CURVE_MONTHS)),
    missing_predictors=[],
    landmark="infusion",
    model_version="empty",
    notice=RESEARCH_USE_NOTICE,
)


@bentoml.service(
    name="empty",
    workers=1,
    traffic={"timeout": 30, "max_concurrency": 256},
    logging={"access": {"enabled": False}},
)
class Empty:
    @bentoml.api(input_spec=ScoreInput, route="/score")
    async def score(self, patient: Patient) -> Score:
        return FIXED
