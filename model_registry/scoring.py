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

from features import pcpi
from features.encode import (
    choose_landmark,
    choose_record_landmark,
    encode,
    encode_record,
    feature_names,
    feature_sources,
    is_missing,
    missing_in_record,
    missing_predictors,
)
from features.schema import (
    AUTO,
    EVENT_FREE_MONTHS,
    LANDMARK_CHOICES,
    LANDMARKS,
    PROGRESSION,
    PROGRESSION_HORIZONS_MONTHS,
    horizon_columns,
    require_landmark,
)
from model_registry.curves import CONDITIONAL_COLUMNS, CURE_GIVEN_EVENT_FREE, conditional_risks
from model_registry.registry import LoadedVersion, RegistryError

HORIZON_COLUMNS = horizon_columns("risk")
RELAPSE_COLUMNS = horizon_columns("relapse")
NRM_COLUMNS = horizon_columns("nrm")
CAUSE_COLUMNS = RELAPSE_COLUMNS + NRM_COLUMNS
CURE_COLUMN = "cure_probability"
# Dynamic prediction (a patient event-free at `event_free_months`): two-cause versions only.
DYNAMIC_COLUMNS = (*CONDITIONAL_COLUMNS, CURE_GIVEN_EVENT_FREE)

_SCORE_OUTPUTS = ("risk", "log_hazard", "relapse", "nrm", CURE_COLUMN)
_CURVES = {
    "event_free_curve": "event_free",
    "relapse_curve": "relapse",
    "nrm_curve": "nrm",
    "relapse_cumhaz_curve": "relapse_cumhaz",
}
# The calculator's curve: event-free survival every half month to 30 months.
CURVE_MONTHS = tuple(m / 2 for m in range(61))
# At progression: probability of death (any cause) by 3, 6 and 12 months from progression,
# median OS from progression (NaN: not reached within the curve's 24 months) and PC-PI.
DEATH_COLUMNS = horizon_columns("death", PROGRESSION_HORIZONS_MONTHS)
PROGRESSION_NUMBER_COLUMNS = (*DEATH_COLUMNS, "median_os_months", "pcpi_points")
PROGRESSION_COLUMNS = (*PROGRESSION_NUMBER_COLUMNS, "pcpi_group")
PROGRESSION_CURVE_MONTHS = tuple(m / 2 for m in range(49))
NO_PROGRESSION_MODEL = (
    "it was trained before the progression landmark existed (no model "
    "of survival after progression)"
)


class NoProgressionModel(RegistryError):
    """Scoring at progression was asked of a version without a progression model."""


def _session(data: bytes, bulk: bool = False) -> ort.InferenceSession:
    """One thread, for single requests (lowest latency) and bulk work alike: batch scoring
    runs the graph on a thread of its own beside the Python work of other chunks, and on
    this 2-core machine a second ONNX thread made a run slower, not faster (waiting
    threads spin against the other work). Bulk sessions leave out the contributions."""
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    if bulk:
        import onnx
        from onnx.utils import Extractor

        # Contributions are not written by batch scoring: prune their tree ensemble.
        proto = onnx.load_from_string(data)
        wanted = [
            o.name for o in proto.graph.output if o.name in _SCORE_OUTPUTS or o.name in _CURVES
        ]
        data = Extractor(proto).extract_model(["features"], wanted).SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


@dataclass
class LandmarkModel:
    """One landmark's graph and what it needs around it."""

    landmark: str
    family: str
    feature_names: list[str]
    thresholds_12m: tuple[float, float]
    baseline_months: np.ndarray | None
    baseline_cumhaz: np.ndarray | None
    session: ort.InferenceSession
    sources: dict[str, str]
    outputs: list[str] | None = None
    order: list[int] | None = None  # positions in the canonical encoding, when they differ
    curve_step_months: float | None = None  # the curves' grid (two-cause versions)

    def __post_init__(self):
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.score_outputs = [o for o in self.outputs if o in _SCORE_OUTPUTS]
        # Versions trained before (or without) a model of non-relapse mortality score the
        # PFS risk only; their relapse and nrm fields are null. Versions before the two-cause
        # model have no curves: no dynamic prediction, and the PFS curve from the baseline.
        self.has_causes = "nrm" in self.outputs
        self.has_curves = "event_free_curve" in self.outputs
        self.has_cure = CURE_COLUMN in self.outputs
        canonical_order = feature_names(self.landmark)
        if self.feature_names != canonical_order:
            self.order = [canonical_order.index(n) for n in self.feature_names]
        # Each encoded column's predictor, by position, for summing contributions.
        self.predictors = list(dict.fromkeys(self.sources[n] for n in self.feature_names))
        self._predictor_of = np.asarray(
            [self.predictors.index(self.sources[n]) for n in self.feature_names], dtype=np.intp
        )

    def run(self, X: pd.DataFrame, with_contributions: bool = False) -> dict[str, np.ndarray]:
        return self.run_array(X[self.feature_names].to_numpy(dtype=np.float32), with_contributions)

    def run_array(
        self, features: np.ndarray, with_contributions: bool = False
    ) -> dict[str, np.ndarray]:
        names = self.outputs if with_contributions else self.score_outputs
        return dict(zip(names, self.session.run(names, {"features": features})))

    def by_predictor(self, per_feature) -> dict[str, float]:
        """Sum the encoded columns' contributions into one per canonical predictor (in
        float64, column by column in the graph's order)."""
        summed = np.bincount(
            self._predictor_of, weights=per_feature, minlength=len(self.predictors)
        )
        return dict(zip(self.predictors, summed.tolist()))

    # The three methods below let evaluation treat a served model like a fitted one.
    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        return self.run(X)["log_hazard"][:, 0].astype(float)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.run(X)["risk"].astype(float)

    def predict_causes(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """risk, relapse and nrm at the horizons (NaN causes for a version without them)."""
        result = self.run(X)
        risk = result["risk"].astype(float)
        missing = np.full(risk.shape, np.nan)
        return {
            "risk": risk,
            "relapse": result.get("relapse", missing).astype(float),
            "nrm": result.get("nrm", missing).astype(float),
        }

    def curves(self, features: np.ndarray, result: dict | None = None) -> dict[str, np.ndarray]:
        """The graph's curves (two-cause versions), keyed as `model_registry.curves` reads;
        from `result` (a run's outputs) when it holds them, else from a run."""
        names = [*_CURVES, *([CURE_COLUMN] if self.has_cure else [])]
        if result is None or any(n not in result for n in names):
            result = dict(zip(names, self.session.run(names, {"features": features})))
        return {key: result[name].astype(float) for name, key in _CURVES.items()} | (
            {CURE_COLUMN: result[CURE_COLUMN][:, 0].astype(float)} if self.has_cure else {}
        )

    def dynamic(
        self, features: np.ndarray, event_free_months: np.ndarray, result: dict | None = None
    ) -> dict[str, np.ndarray]:
        """Risks for patients still event-free at `event_free_months` (two-cause only)."""
        curves = self.curves(features, result)
        return conditional_risks(
            curves, event_free_months, self.curve_step_months, curves.get(CURE_COLUMN)
        )

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        if self.has_curves:
            features = X[self.feature_names].to_numpy(dtype=np.float32)
            survival = self.curves(features)["event_free"]
            idx = np.floor(np.asarray(times, float) / self.curve_step_months + 1e-9)
            return survival[:, np.clip(idx.astype(int), 0, survival.shape[1] - 1)]
        idx = np.searchsorted(self.baseline_months, np.asarray(times, float), side="right") - 1
        h0 = np.where(idx >= 0, self.baseline_cumhaz[np.maximum(idx, 0)], 0.0)
        return np.exp(-np.exp(self.linear_predictor(X))[:, None] * h0[None, :])


def _as_object_array(lists: list) -> np.ndarray:
    out = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out


class ScoringModel:
    """Score validated patients with a verified registry version.

    Parameters
    ----------
    loaded : LoadedVersion
        From `Registry.load` (integrity already checked).
    """

    def __init__(self, loaded: LoadedVersion, bulk: bool = False):
        self.version = loaded.version
        self.metadata = loaded.metadata
        self.landmarks: dict[str, LandmarkModel] = {}
        for landmark in LANDMARKS:
            info = loaded.metadata["landmarks"].get(landmark)
            if info is None:
                raise RegistryError(f"{loaded.version} has no model for the {landmark} landmark")
            baseline = info.get("baseline")
            self.landmarks[landmark] = LandmarkModel(
                landmark=landmark,
                family=info["family"],
                feature_names=info["feature_names"],
                thresholds_12m=tuple(info["risk_group_thresholds_12m"]),
                baseline_months=None if baseline is None else np.asarray(baseline["months"], float),
                baseline_cumhaz=None if baseline is None else np.asarray(baseline["cumhaz"], float),
                session=_session(loaded.artifacts[info["artifact"]], bulk),
                sources=feature_sources(landmark),
                curve_step_months=(info.get("curve_grid") or {}).get("step_months"),
            )
        # The progression landmark (versions trained before it have none, and say why).
        info = loaded.metadata.get("progression") or {"absent": NO_PROGRESSION_MODEL}
        self.progression_absent = info.get("absent")
        if self.progression_absent is None:
            self.landmarks[PROGRESSION] = LandmarkModel(
                landmark=PROGRESSION,
                family=info["family"],
                feature_names=info["feature_names"],
                thresholds_12m=tuple(info["risk_group_thresholds_6m"]),
                baseline_months=np.asarray(info["baseline"]["months"], float),
                baseline_cumhaz=np.asarray(info["baseline"]["cumhaz"], float),
                session=_session(loaded.artifacts[info["artifact"]], bulk),
                sources=feature_sources(PROGRESSION),
            )
            self.population_os = info["population_os"]

    def _check_progression(self) -> None:
        if PROGRESSION not in self.landmarks:
            raise NoProgressionModel(
                f"model version {self.version} cannot score at "
                f"progression: {self.progression_absent}"
            )

    def score(
        self, frame: pd.DataFrame, landmark: str = AUTO, with_contributions: bool = True
    ) -> pd.DataFrame:
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
            Index of `frame`; columns risk_6m, risk_12m, risk_24m, the causes
            (relapse_*, nrm_*), cure_probability, risk_group, landmark, missing_predictors
            (list), model_version and, when asked and available, contributions (dict
            predictor -> contribution). Rows with `event_free_months` also get the dynamic
            columns (`DYNAMIC_COLUMNS`: risks over the next 6 and 12 months and the
            probability of durable remission, given event-free then); NaN where the version
            cannot give them.
        """
        if landmark == AUTO:
            chosen = choose_landmark(frame, with_progression=PROGRESSION in self.landmarks)
        elif landmark in LANDMARKS:
            chosen = np.full(len(frame), landmark, dtype=object)
        elif landmark == PROGRESSION:
            self._check_progression()
            chosen = np.full(len(frame), landmark, dtype=object)
        else:
            require_landmark(landmark, LANDMARK_CHOICES)
        at_progression = bool((chosen == PROGRESSION).any())
        dynamic = EVENT_FREE_MONTHS in frame.columns and bool(
            frame[EVENT_FREE_MONTHS].notna().any()
        )
        numeric = [
            *HORIZON_COLUMNS,
            *CAUSE_COLUMNS,
            CURE_COLUMN,
            *(DYNAMIC_COLUMNS if dynamic else ()),
            *(PROGRESSION_NUMBER_COLUMNS if at_progression else ()),
        ]
        # Filled as arrays and made a frame once: cell-wise .iloc assignment into an object
        # frame cost more than the encoding.
        n = len(frame)
        numbers = {col: np.full(n, np.nan) for col in numeric}
        pcpi_groups = np.full(n, None, dtype=object)
        risk_group = np.empty(n, dtype=object)
        landmarks = np.empty(n, dtype=object)
        contributions: list = [None] * n
        missing_lists = np.empty(n, dtype=object)
        for name, model in self.landmarks.items():
            rows = np.flatnonzero(chosen == name)
            if rows.size == 0:
                continue
            part = frame.iloc[rows]
            features = encode(part, name)[model.feature_names].to_numpy(dtype=np.float32)
            result = model.run_array(features, with_contributions)
            risk = result["risk"].astype(float)
            if name == PROGRESSION:
                self._fill_progression(
                    numbers, pcpi_groups, risk_group, landmarks, rows, part, model, result, risk
                )
                missing_lists[rows] = _as_object_array(missing_predictors(part, name))
                if with_contributions and "contributions" in result:
                    for r, values in zip(rows, result["contributions"]):
                        contributions[r] = model.by_predictor(values)
                continue
            if model.has_cure:
                numbers[CURE_COLUMN][rows] = result[CURE_COLUMN][:, 0]
            if dynamic and model.has_curves:
                s = part[EVENT_FREE_MONTHS].to_numpy(float)
                asked = np.flatnonzero(~np.isnan(s))
                values = model.dynamic(features[asked], s[asked])
                for col, v in values.items():
                    numbers[col][rows[asked]] = v
            for i, col in enumerate(HORIZON_COLUMNS):
                numbers[col][rows] = risk[:, i]
            if model.has_causes:
                for cause, columns in (("relapse", RELAPSE_COLUMNS), ("nrm", NRM_COLUMNS)):
                    values = result[cause].astype(float)
                    for i, col in enumerate(columns):
                        numbers[col][rows] = values[:, i]
            low, high = model.thresholds_12m
            risk_group[rows] = np.where(
                risk[:, 1] < low, "low", np.where(risk[:, 1] < high, "intermediate", "high")
            )
            landmarks[rows] = name
            missing_lists[rows] = _as_object_array(missing_predictors(part, name))
            if with_contributions and "contributions" in result:
                for r, values in zip(rows, result["contributions"]):
                    contributions[r] = model.by_predictor(values)
        out = pd.DataFrame(
            {
                **numbers,
                **({"pcpi_group": pcpi_groups} if at_progression else {}),
                "risk_group": risk_group,
                "landmark": landmarks,
                "missing_predictors": missing_lists,
                "model_version": np.full(n, self.version, dtype=object),
            },
            index=frame.index,
        )
        if with_contributions:
            out["contributions"] = contributions
        return out

    @staticmethod
    def _fill_progression(
        numbers: dict,
        pcpi_groups: np.ndarray,
        risk_group: np.ndarray,
        landmarks: np.ndarray,
        rows: np.ndarray,
        part: pd.DataFrame,
        model: LandmarkModel,
        result: dict,
        risk: np.ndarray,
    ) -> None:
        """Death by 3/6/12 months, median OS, risk group (by the 6-month risk) and PC-PI."""
        for i, col in enumerate(DEATH_COLUMNS):
            numbers[col][rows] = risk[:, i]
        survival = _os_curves(model, result["log_hazard"][:, 0].astype(float))
        numbers["median_os_months"][rows] = _median(survival)
        points = pcpi.score(part)
        numbers["pcpi_points"][rows] = points
        pcpi_groups[rows] = pcpi.group(points)
        low, high = model.thresholds_12m
        risk_group[rows] = np.where(
            risk[:, 1] < low, "low", np.where(risk[:, 1] < high, "intermediate", "high")
        )
        landmarks[rows] = PROGRESSION

    def _score_progression_record(self, record: dict, with_contributions: bool) -> dict:
        model = self.landmarks[PROGRESSION]
        encoded = encode_record(record, PROGRESSION)
        if model.order is not None:
            encoded = [encoded[i] for i in model.order]
        features = np.asarray([encoded], dtype=np.float32)
        result = model.run_array(features, with_contributions)
        death = result["risk"][0].tolist()
        survival = _os_curves(model, result["log_hazard"][:, 0].astype(float))
        median = float(_median(survival)[0])
        low, high = model.thresholds_12m
        out = {
            **dict(zip(DEATH_COLUMNS, death)),
            "median_os_months": None if median != median else median,
            "risk_group": "low"
            if death[1] < low
            else "intermediate"
            if death[1] < high
            else "high",
            "landmark": PROGRESSION,
            "missing_predictors": missing_in_record(record, PROGRESSION),
            "model_version": self.version,
            "pcpi": pcpi.score_record(record),
        }
        out.update({k: None for k in (*HORIZON_COLUMNS, *CAUSE_COLUMNS, CURE_COLUMN)})
        if with_contributions:
            out["contributions"] = (
                model.by_predictor(result["contributions"][0])
                if "contributions" in result
                else None
            )
            out["os_curve"] = {
                "months": list(PROGRESSION_CURVE_MONTHS),
                "alive": [round(float(v), 6) for v in survival[0]],
                "population_alive": self.population_os["alive"],
            }
        return out

    def score_record(
        self, record: dict, landmark: str = AUTO, with_contributions: bool = True
    ) -> dict:
        """Score one typed record (from `features.validate.check_record`) without pandas.

        Returns a dict with the same fields as a row of `score`; at progression, death by
        3/6/12 months, median OS, PC-PI and the OS curve instead of the PFS risks.
        """
        if landmark == AUTO:
            landmark = choose_record_landmark(record)
            if landmark == PROGRESSION and PROGRESSION not in self.landmarks:
                landmark = choose_record_landmark(record, with_progression=False)
        elif landmark == PROGRESSION:
            self._check_progression()
        else:
            require_landmark(landmark, LANDMARK_CHOICES)
        if landmark == PROGRESSION:
            return self._score_progression_record(record, with_contributions)
        model = self.landmarks[landmark]
        encoded = encode_record(record, landmark)
        if model.order is not None:
            encoded = [encoded[i] for i in model.order]
        features = np.asarray([encoded], dtype=np.float32)
        result = model.run_array(features, with_contributions)
        risk = result["risk"][0].tolist()  # Python floats, exactly the float32 values
        low, high = model.thresholds_12m
        causes = {}
        for cause, columns in (("relapse", RELAPSE_COLUMNS), ("nrm", NRM_COLUMNS)):
            values = result[cause][0].tolist() if cause in result else [None] * len(columns)
            causes.update(zip(columns, values))
        out = {
            **dict(zip(HORIZON_COLUMNS, risk)),
            **causes,
            "risk_group": "low" if risk[1] < low else "intermediate" if risk[1] < high else "high",
            "landmark": landmark,
            "missing_predictors": missing_in_record(record, landmark),
            "model_version": self.version,
        }
        out[CURE_COLUMN] = float(result[CURE_COLUMN][0, 0]) if CURE_COLUMN in result else None
        event_free = record.get(EVENT_FREE_MONTHS)
        if not is_missing(event_free):
            values = (
                model.dynamic(features, np.asarray([event_free], float), result)
                if model.has_curves
                else {}
            )
            out.update(
                {col: float(values[col][0]) if col in values else None for col in DYNAMIC_COLUMNS}
            )
        if with_contributions:
            out["contributions"] = (
                model.by_predictor(result["contributions"][0])
                if "contributions" in result
                else None
            )
            out["curve"] = self._curve(model, features, result)
        return out

    @staticmethod
    def _curve(model: LandmarkModel, features: np.ndarray, result: dict) -> dict:
        """The patient's event-free survival every half month to 30 months: from the graph's
        curve (two-cause versions) or, before them, the PFS model's baseline."""
        months = np.asarray(CURVE_MONTHS)
        if model.has_curves:
            survival = model.curves(features, result)["event_free"][0]
            idx = np.floor(months / model.curve_step_months + 1e-9).astype(int)
            values = survival[np.clip(idx, 0, len(survival) - 1)]
        else:
            i = np.searchsorted(model.baseline_months, months, side="right") - 1
            h0 = np.where(i >= 0, model.baseline_cumhaz[np.maximum(i, 0)], 0.0)
            values = np.exp(-h0 * np.exp(float(result["log_hazard"][0, 0])))
        return {"months": list(CURVE_MONTHS), "event_free": [round(float(v), 6) for v in values]}

    def describe(self) -> dict:
        """Public metadata (no file paths)."""
        return json.loads(json.dumps(self.metadata))


def _os_curves(model: LandmarkModel, log_hazard: np.ndarray) -> np.ndarray:
    """Survival from progression on `PROGRESSION_CURVE_MONTHS`, one row per patient."""
    months = np.asarray(PROGRESSION_CURVE_MONTHS)
    i = np.searchsorted(model.baseline_months, months, side="right") - 1
    h0 = np.where(i >= 0, model.baseline_cumhaz[np.maximum(i, 0)], 0.0)
    return np.exp(-np.exp(log_hazard)[:, None] * h0[None, :])


def _median(survival: np.ndarray) -> np.ndarray:
    """First month on the curve at which survival is at or below one half (NaN: not
    reached within it)."""
    below = survival <= 0.5
    return np.where(
        below.any(axis=1), np.asarray(PROGRESSION_CURVE_MONTHS)[np.argmax(below, axis=1)], np.nan
    )
