"""Versions trained before the two-cause model (a PFS model whose events two cause models
shared out, its baseline in the metadata) still load and score as they did: the same
numbers, relapse + nrm = risk, no cure probability and no dynamic prediction (null, not a
guess), and the calculator's curve from the PFS baseline."""

import numpy as np
import pandas as pd
import pytest

from features.encode import encode
from features.schema import LANDMARKS
from features.validate import check_record, validate_frame
from model_registry.registry import Registry
from model_registry.scoring import DYNAMIC_COLUMNS, ScoringModel
from training.cohort import landmark_mask, synthetic_cohort
from training.export.onnx_export import to_onnx
from training.models import CauseModels, CompetingRisks, CoxRidge
from training.train import BASELINE_GRID_MONTHS


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """A version as `train_version` wrote it before: per landmark an anchored PFS Cox model
    with the legacy cause split in its graph."""
    cohort = synthetic_cohort(3000, 5).frame
    artifacts, landmarks, natives = {}, {}, {}
    for lm in LANDMARKS:
        part = cohort.loc[landmark_mask(cohort, lm)]
        X = encode(part, lm)
        t, e = part["pfs_months"].to_numpy(float), part["pfs_event"].to_numpy(float)
        model = CoxRidge().fit(X, t, e)
        causes = CauseModels.fit(X, t, e, part["pfs_event_type"].to_numpy(object))
        artifacts[f"{lm}.onnx"] = to_onnx(model, causes).SerializeToString()
        natives[lm] = CompetingRisks(model, causes)
        landmarks[lm] = {
            "family": "cox_ridge",
            "artifact": f"{lm}.onnx",
            "feature_names": list(model.feature_names_),
            "horizons_months": [6.0, 12.0, 24.0],
            "risk_group_thresholds_12m": [0.4, 0.6],
            "baseline": {
                "months": BASELINE_GRID_MONTHS.tolist(),
                "cumhaz": model.cumulative_baseline_hazard(BASELINE_GRID_MONTHS).tolist(),
            },
            "cause_models": causes.describe(),
        }
    registry = Registry(tmp_path_factory.mktemp("legacy"))
    version = registry.register(
        artifacts, {"landmarks": landmarks, "notice": "n"}, {"model_card.md": b"legacy"}
    )
    return ScoringModel(registry.load(version)), natives, cohort


def test_a_legacy_version_scores_as_it_did(legacy):
    scoring, natives, cohort = legacy
    rows = cohort.iloc[:500]  # validated rows, as scoring receives them
    scored = scoring.score(rows, landmark="infusion")
    native = natives["infusion"].predict_causes(encode(rows, "infusion"))
    assert np.allclose(
        scored[["risk_6m", "risk_12m", "risk_24m"]].to_numpy(), native["risk"], atol=1e-5
    )
    assert np.allclose(
        scored[["nrm_6m", "nrm_12m", "nrm_24m"]].to_numpy(), native["nrm"], atol=1e-5
    )
    assert scored["cure_probability"].isna().all()


def test_a_legacy_version_gives_no_dynamic_prediction_and_its_baseline_curve(legacy, valid_record):
    scoring, _, _ = legacy
    out = scoring.score_record(check_record({**valid_record, "event_free_months": 12}))
    assert out["cure_probability"] is None
    assert all(out[c] is None for c in DYNAMIC_COLUMNS)
    curve = out["curve"]
    # The curve is the PFS model's: at 12 months, 1 - risk_12m (float32 in the graph).
    assert curve["event_free"][curve["months"].index(12.0)] == pytest.approx(
        1 - out["risk_12m"], abs=1e-5
    )
    table = scoring.score(
        validate_frame(pd.DataFrame([{**valid_record, "event_free_months": 12}]).astype(str)).frame
    )
    assert table[list(DYNAMIC_COLUMNS)].isna().all(axis=None)
