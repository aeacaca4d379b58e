import numpy as np
import pytest
from onnx import numpy_helper

from features.encode import encode
from features.validate import validate_frame
from synthetic.generator import canonical, simulate
from training.cohort import landmark_mask
from training.export.onnx_export import ParityError, check_parity, session, to_onnx
from training.models import (
    CIF_GRID_MONTHS,
    HORIZONS_MONTHS,
    CauseModels,
    CoxRidge,
    XGBCox,
    nrm_incidence,
)


@pytest.fixture(scope="module")
def patients():
    frame = validate_frame(canonical(simulate(24000, 17)), nan_is_missing=True).frame
    return frame


@pytest.mark.parametrize("landmark", ["infusion", "day28"])
@pytest.mark.parametrize("family", ["cox_ridge", "xgb_cox"])
def test_onnx_agrees_with_the_fitted_model_on_10000_patients(patients, landmark, family):
    frame = patients.loc[landmark_mask(patients, landmark)]
    X = encode(frame, landmark)
    t, e = frame.pfs_months.to_numpy(), frame.pfs_event.to_numpy()
    train, check = slice(0, 8000), slice(len(X) - 10000, len(X))
    kind = frame.pfs_event_type.to_numpy(object)
    model = (CoxRidge() if family == "cox_ridge" else XGBCox()).fit(X[train], t[train], e[train])
    causes = CauseModels.fit(X[train], t[train], e[train], kind[train])
    proto = to_onnx(model, causes)
    assert len(X[check]) == 10000
    worst = check_parity(model, proto, X[check], causes=causes)
    assert worst <= 1e-5
    names = [o.name for o in session(proto).get_outputs()]
    out = dict(zip(names, session(proto).run(None, {"features": X[check].to_numpy(np.float32)})))
    np.testing.assert_allclose(out["log_hazard"][:, 0], model.linear_predictor(X[check]), atol=1e-4)
    for name in ("relapse", "nrm"):
        np.testing.assert_allclose(
            out[f"{name}_log_hazard"][:, 0],
            getattr(causes, name).linear_predictor(X[check]),
            atol=1e-4,
        )
    np.testing.assert_allclose(out["relapse"] + out["nrm"], out["risk"], atol=1e-6)
    assert (out["nrm"] > 0).all() and (np.diff(out["nrm"], axis=1) >= 0).all()
    if family == "cox_ridge":
        np.testing.assert_allclose(out["contributions"], model.contributions(X[check]), atol=1e-4)


def test_the_cause_split_is_exact_for_constant_hazards():
    """Constant cause-specific hazards a (relapse) and b (NRM): the incidence of NRM is
    b / (a + b) * (1 - exp(-(a + b) t)) exactly, whatever the grid."""
    a, b = 0.09, 0.006
    lp = np.log(np.array([0.5, 1.0, 3.0]))
    nrm = nrm_incidence(
        lp, (a + b) * CIF_GRID_MONTHS, lp, a * CIF_GRID_MONTHS, lp, b * CIF_GRID_MONTHS
    )
    rate = np.exp(lp)[:, None] * (a + b)
    expected = b / (a + b) * -np.expm1(-rate * np.asarray(HORIZONS_MONTHS)[None, :])
    np.testing.assert_allclose(nrm, expected, rtol=1e-12)


def test_the_cause_models_refuse_a_cohort_without_event_types(patients):
    X = encode(patients.iloc[:500], "infusion")
    t, e = patients.pfs_months.to_numpy()[:500], patients.pfs_event.to_numpy()[:500]
    with pytest.raises(ValueError, match="pfs_event_type"):
        CauseModels.fit(X, t, e, np.full(500, None, dtype=object))


def test_parity_check_catches_a_wrong_graph(patients):
    X = encode(patients.iloc[:3000], "infusion")
    t, e = patients.pfs_months.to_numpy()[:3000], patients.pfs_event.to_numpy()[:3000]
    model = XGBCox(n_estimators=30).fit(X, t, e)
    proto = to_onnx(model)
    offset = next(i for i in proto.graph.initializer if i.name == "margin_offset")
    proto.graph.initializer.remove(offset)  # undo the base_score correction
    proto.graph.initializer.append(numpy_helper.from_array(np.float32(0.0), "margin_offset"))
    with pytest.raises(ParityError, match="do not serve"):
        check_parity(model, proto, X)


def test_tree_contributions_in_the_graph_equal_xgboost_approx_contribs(patients):
    """Independent reference: XGBoost's own Saabas attribution (approx_contribs)."""
    import xgboost as xgb

    X = encode(patients.iloc[:6000], "day28")
    t, e = patients.pfs_months.to_numpy()[:6000], patients.pfs_event.to_numpy()[:6000]
    model = XGBCox(n_estimators=120).fit(X, t, e)
    features = X.to_numpy(np.float32)
    contributions = session(to_onnx(model)).run(["contributions"], {"features": features})[0]
    reference = model.model_.get_booster().predict(
        xgb.DMatrix(features), pred_contribs=True, approx_contribs=True
    )[:, :-1]
    np.testing.assert_allclose(contributions, reference, atol=1e-5)
