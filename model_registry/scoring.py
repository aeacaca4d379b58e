"""A registered version made ready to score: ONNX sessions, risk groups, contributions.

This is the hand-off from the registry to serving and batch scoring: it takes validated rows
(from `features.validate`), encodes them with `features.encode` and runs the ONNX graphs only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import pandas as pd

from features.encode import choose_landmark, encode, feature_sources, missing_predictors
from features.schema import DAY28, INFUSION, LANDMARKS
from model_registry.registry import LoadedVersion, RegistryError

HORIZON_COLUMNS = ("risk_6m", "risk_12m", "risk_24m")
RISK_GROUPS = ("low", "intermediate", "high")


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


@dataclass
class LandmarkModel:
    """One landmark's graph and what it needs around it."""

    landmark: str
    family: str
    feature_names: list[str]
    thresholds_12m: tuple[float, float]
    baseline_months: np.ndarray
    baseline_cumhaz: np.ndarray
    session: ort.InferenceSession
    sources: dict[str, str]
    explainer: object | None = None

    def run(self, X: pd.DataFrame, with_contributions: bool = False) -> dict[str, np.ndarray]:
        features = X[self.feature_names].to_numpy(dtype=np.float32)
        names = [o.name for o in self.session.get_outputs()]
        result = dict(zip(names, self.session.run(names, {"features": features})))
        if with_contributions and self.explainer is not None:
            import xgboost as xgb

            contribs = self.explainer.predict(xgb.DMatrix(features), pred_contribs=True)
            result["contributions"] = contribs[:, :-1]
        return result

    # The three methods below let evaluation treat a served model like a fitted one.
    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        return self.run(X)["log_hazard"][:, 0].astype(float)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.run(X)["risk"].astype(float)

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        idx = np.searchsorted(self.baseline_months, np.asarray(times, float), side="right") - 1
        h0 = np.where(idx >= 0, self.baseline_cumhaz[np.maximum(idx, 0)], 0.0)
        return np.exp(-np.exp(self.linear_predictor(X))[:, None] * h0[None, :])


def _booster(data: bytes | None):
    """An XGBoost booster from its JSON model (for TreeSHAP contributions), or None."""
    if not data:
        return None
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(data))
    booster.set_param({"nthread": 1})
    return booster


class ScoringModel:
    """Score validated patients with a verified registry version.

    Parameters
    ----------
    loaded : LoadedVersion
        From `Registry.load` (integrity already checked).
    """

    def __init__(self, loaded: LoadedVersion):
        self.version = loaded.version
        self.metadata = loaded.metadata
        self.landmarks: dict[str, LandmarkModel] = {}
        for landmark in LANDMARKS:
            info = loaded.metadata["landmarks"].get(landmark)
            if info is None:
                raise RegistryError(f"{loaded.version} has no model for the {landmark} landmark")
            self.landmarks[landmark] = LandmarkModel(
                landmark=landmark, family=info["family"], feature_names=info["feature_names"],
                thresholds_12m=tuple(info["risk_group_thresholds_12m"]),
                baseline_months=np.asarray(info["baseline"]["months"], float),
                baseline_cumhaz=np.asarray(info["baseline"]["cumhaz"], float),
                session=_session(loaded.artifacts[info["artifact"]]),
                sources=feature_sources(landmark),
                explainer=_booster(loaded.artifacts.get(info.get("explainer_artifact") or "")))

    def score(self, frame: pd.DataFrame, landmark: str = "auto",
              with_contributions: bool = True) -> pd.DataFrame:
        """Risk at 6/12/24 months, risk group, landmark and missing predictors per row.

        Parameters
        ----------
        frame : DataFrame
            Validated rows (`ValidationResult.frame`).
        landmark : {"auto", "infusion", "day28"}
            "auto" uses day 28 for rows with a day-28 predictor, infusion otherwise.

        Returns
        -------
        DataFrame
            Index of `frame`; columns risk_6m, risk_12m, risk_24m, risk_group, landmark,
            missing_predictors (list), model_version and, when asked and available,
            contributions (dict predictor -> log-hazard contribution).
        """
        if landmark == "auto":
            chosen = choose_landmark(frame)
        elif landmark in LANDMARKS:
            chosen = np.full(len(frame), landmark, dtype=object)
        else:
            raise ValueError(f"landmark must be auto, {INFUSION} or {DAY28}, got {landmark!r}")
        out = pd.DataFrame(index=frame.index, columns=[*HORIZON_COLUMNS, "risk_group",
                                                       "landmark", "missing_predictors",
                                                       "model_version"], dtype=object)
        out["model_version"] = self.version
        contributions: list = [None] * len(frame)
        for name, model in self.landmarks.items():
            rows = np.flatnonzero(chosen == name)
            if rows.size == 0:
                continue
            part = frame.iloc[rows]
            result = model.run(encode(part, name), with_contributions)
            risk = result["risk"].astype(float)
            for i, col in enumerate(HORIZON_COLUMNS):
                out.iloc[rows, out.columns.get_loc(col)] = risk[:, i]
            low, high = model.thresholds_12m
            group = np.where(risk[:, 1] < low, "low",
                             np.where(risk[:, 1] < high, "intermediate", "high"))
            out.iloc[rows, out.columns.get_loc("risk_group")] = group
            out.iloc[rows, out.columns.get_loc("landmark")] = name
            missing = missing_predictors(part, name)
            col = out.columns.get_loc("missing_predictors")
            for r, m in zip(rows, missing):
                out.iat[r, col] = m
            if with_contributions and "contributions" in result:
                per_feature = result["contributions"].astype(float)
                for r, values in zip(rows, per_feature):
                    summed: dict[str, float] = {}
                    for fname, v in zip(model.feature_names, values):
                        key = model.sources[fname]
                        summed[key] = summed.get(key, 0.0) + float(v)
                    contributions[r] = summed
        for col in HORIZON_COLUMNS:
            out[col] = out[col].astype(float)
        if with_contributions:
            out["contributions"] = contributions
        return out

    def describe(self) -> dict:
        """Public metadata (no file paths)."""
        return json.loads(json.dumps(self.metadata))
