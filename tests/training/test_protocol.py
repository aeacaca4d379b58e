"""Every model evaluation and updating take offers `training.models.RiskModel`: the fitted
families of each landmark and the served graph `validate` scores through."""

import numpy as np

from features.encode import encode
from features.schema import HORIZONS_MONTHS, LANDMARKS
from model_registry.scoring import ScoringModel
from training.cohort import landmark_mask
from training.models import RiskModel


def test_every_family_and_the_served_graph_offer_the_protocol(trained, small_cohort):
    registry, version, fits = trained
    served = ScoringModel(registry.load(version))
    frame = small_cohort.frame
    for lm in LANDMARKS:
        X = encode(frame.loc[landmark_mask(frame, lm)].head(50), lm)
        for name, model in [*fits[lm].models.items(), ("served", served.landmarks[lm])]:
            assert isinstance(model, RiskModel), (lm, name)
            risk = model.predict_risk(X)
            survival = model.predict_survival(X, list(HORIZONS_MONTHS))
            assert risk.shape == (50, len(HORIZONS_MONTHS)), (lm, name)
            # The two views of the same model agree: risk by t = 1 - event-free survival at t.
            np.testing.assert_allclose(risk, 1 - survival, atol=2e-3, err_msg=f"{lm} {name}")
            assert model.linear_predictor(X).shape == (50,), (lm, name)
