"""Model updating for a new population without refitting the predictors (`relapse-risk
recalibrate`), after the updating hierarchy of Steyerberg's "Clinical Prediction Models".

The update is anchored at 12 months, where risk groups are read. A binomial model of "PFS event
by 12 months" on the linear predictor, with the complementary log-log link and IPCW for
censoring, is the proportional-hazards model at that horizon:
cloglog(risk_12) = a + b * lp, with H0'(12) = exp(a).

- `intercept`: recalibration in the large. b = 1 (the linear predictor kept) and a is
  estimated, which moves every patient's risk to the new population's level.
- `slope`: logistic recalibration of the linear predictor: a and b estimated. b < 1 says the
  predictions were too extreme there, b > 1 too timid.
- `horizons`: a level a at each of 6, 12 and 24 months (b as `auto` chose it), linear in
  log t between them: a population that differs by its share of durable remissions moves
  early and late risks by different factors, which one level cannot follow.
- `auto`: `slope` when b differs from 1 at the 5% level (bootstrap SE), else `intercept`;
  then levels by horizon when a(24) - a(6) differs from 0 at the 5% level: the smallest
  update the new patients' data support.

The baseline's shape over time comes from a Breslow estimate on the new patients with b * lp
as an offset, scaled so that H0'(12) = exp(a). A Cox slope over the whole follow-up was tried
first and rejected: when a population differs by its share of durable remissions (not
proportionally in hazard), the predictors' effect on the 12-month risk differs from their
average effect over follow-up, and the Cox slope left 12-month calibration slopes off by 0.13
on a fresh sample.

The registered update is estimated on every patient of the cohort. It is assessed by two-fold
cross-fitting (the cohort split in two, stratified by event; `update_fraction` is the first
fold's share): each patient is judged by the same update estimated on the other fold, so the
report (before and after) and the champion/challenger gate read every patient the parent has
not seen, out of sample. A hold-out half instead halves the patients judged (on 500, the gate
could not tell a mean Brier gain of 0.003 from no change) and the update itself.

Two-cause versions (`training.outcome`): the update touches the relapse hazard only, as
H_relapse'(t | x) = exp(a) H_relapse(t | x)^b at every t, with the NRM hazard kept. Why: the
populations registries differ in are populations of lymphoma (case-mix, products, the share
of durable remissions), while NRM depends weakly on age and ECOG and an update sample of a
few hundred patients holds a few dozen NRM deaths at most, too few to move it. P(PFS event by
12 months) = 1 - exp(-(exp(a) H_relapse(12)^b + H_nrm(12))) is then exact, and (a, b) are
estimated by the same IPCW binomial likelihood as above, with the NRM hazard as an offset.
The model's shape over time is kept (no new baseline): with b = 1 the update is a
proportional change of the relapse hazard, and a cure fraction pi becomes pi^exp(a); in
general pi' = exp(-exp(a) (-log pi)^b), still a mixture-cure model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sksurv.linear_model.coxph import BreslowEstimator

from features.encode import encode
from features.schema import LANDMARKS, PFS_EVENT, PFS_MONTHS
from model_registry.registry import Registry, RegistryError
from model_registry.scoring import ScoringModel
from training.calibration import CALIBRATION_HORIZON, fit_horizons, resample_counts
from training.choices import RECALIBRATION_METHODS
from training.cohort import Cohort, cohort_from_description, describe_lineage, landmark_mask
from training.evaluation.external_validation import (
    MIN_EVENTS,
    LandmarkValidation,
    ValidationError,
    validate_landmark,
)
from training.export.onnx_export import (
    check_outcome_parity,
    check_parity,
    recalibrated_graph,
    recalibrated_outcome_graph,
)
from training.models import CIF_GRID_MONTHS, HORIZONS_MONTHS, BreslowRisk, CauseModels
from training.outcome import GRID_MONTHS, HORIZON_INDEX, CurveRisk, cumulative_incidences
from training.progress import Stages
from training.train import BASELINE_GRID_MONTHS
from training.updating.gate import DEFAULT_BOOTSTRAP as DEFAULT_GATE_BOOTSTRAP
from training.updating.gate import GateDecision, GateTolerances, compare, paired_comparison
from training.updating.lineage import UPDATE_ROWS_FILE, seen_rows

METHODS = RECALIBRATION_METHODS
SLOPE_Z = 1.959964  # two-sided 5% test of slope = 1, for `auto`
SLOPE_BOOTSTRAP = 200


@dataclass
class Update:
    """One landmark's update: what was estimated, on how many patients, and why."""

    landmark: str
    method: str
    slope: float
    slope_se: float | None
    reason: str
    n: int
    events: int
    intercept: float | None = None  # a of a two-cause update (H' = exp(a) H^b)
    levels: list[float] | None = None  # a at 6, 12 and 24 months when they differ


class RecalibratedModel(BreslowRisk):
    """A served landmark model with its linear predictor rescaled and a new Breslow
    baseline; the Python twin of the updated ONNX graph (for parity and assessment)."""

    def __init__(self, base, slope: float, times: np.ndarray, cumhaz: np.ndarray):
        self.base, self.slope = base, slope
        self.baseline_times_, self.baseline_cumhaz_ = times, cumhaz
        self.feature_names_ = base.feature_names
        self.family = base.family
        self.horizon_cumhaz_ = self.cumulative_baseline_hazard(HORIZONS_MONTHS)

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        return self.slope * self.base.linear_predictor(X)


def horizon_fit(
    lp: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    fit_slope: bool,
    horizon: float = CALIBRATION_HORIZON,
    counts: np.ndarray | None = None,
):
    """(a, b) of the IPCW complementary log-log model cloglog(P(event by horizon)) =
    a + b * lp (b fixed at 1 unless `fit_slope`): `training.calibration`'s likelihood, at
    12 months (versions with a PFS model and a Breslow baseline)."""
    return fit_horizons(
        lp[:, None],
        time,
        event,
        slope=None if fit_slope else 1.0,
        counts=counts,
        horizons=(horizon,),
    )


class RecalibratedTwoCause(CurveRisk):
    """A served two-cause landmark model with its relapse cumulative hazard updated,
    H' = exp(a) H^b; the Python twin of the updated ONNX graph (parity and assessment)."""

    def __init__(self, base, intercept: float, slope: float):
        self.base, self.intercept, self.slope = base, intercept, slope
        self.feature_names_ = base.feature_names
        self.family = base.family
        self.has_cure = base.has_cure

    def curves(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        raw = self.base.curves(X[self.feature_names_].to_numpy(dtype=np.float32))
        relapse = _updated_cumhaz(raw["relapse_cumhaz"], self.intercept, self.slope)
        nrm = -np.log(np.maximum(raw["event_free"], 1e-300)) - raw["relapse_cumhaz"]
        out = cumulative_incidences(relapse, np.maximum(nrm, 0.0))
        out["relapse_cumhaz"] = relapse
        if self.has_cure:
            out["cure_probability"] = np.exp(
                -_updated_cumhaz(
                    -np.log(raw["cure_probability"]), np.atleast_1d(self.intercept)[-1], self.slope
                )
            )
        return out

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        features = X[self.feature_names_].to_numpy(dtype=np.float32)
        return self.slope * self.base.run_array(features, True)["contributions"].astype(float)

    def cure_probability(self, X: pd.DataFrame) -> np.ndarray | None:
        return self.curves(X)["cure_probability"] if self.has_cure else None


def level_curve(levels) -> np.ndarray:
    """The level a(t) on the curve's grid through a at 6, 12 and 24 months: linear in log t
    between them, constant before 6 and after 24."""
    return np.interp(
        np.log(np.maximum(GRID_MONTHS, 1e-9)), np.log(HORIZONS_MONTHS), np.asarray(levels, float)
    )


def _levels(
    log_relapse,
    nrm,
    time,
    event,
    a: float,
    slope: float,
    method: str,
    requested: str,
    seed: int,
    curves: dict,
):
    """Whether the relapse hazard's level differs between 6, 12 and 24 months (a population
    differing by its share of durable remissions moves early and late risks by different
    factors, which one level cannot follow): with b kept, a is fitted at each horizon, and
    used (linear in log t between them) when `requested` is "horizons", or under "auto" when
    a(24) - a(6) differs from 0 at the 5% level (bootstrap SE). Never when it would make a
    patient's cumulative hazard fall with time. Returns (intercept for the model, levels or
    None, reason)."""
    if requested not in ("auto", "horizons"):
        return a, None, "one level for every horizon"

    def fit(counts):
        return np.stack(
            [
                fit_horizons(
                    log_relapse[:, j : j + 1],
                    time,
                    event,
                    offset=nrm[:, j : j + 1],
                    slope=slope,
                    counts=counts,
                    horizons=(h,),
                )[0]
                for j, h in enumerate(HORIZONS_MONTHS)
            ],
            -1,
        )

    levels = np.asarray(fit(None), float)
    draws = fit(resample_counts(len(time), seed + 1, 0, SLOPE_BOOTSTRAP))
    spread = draws[:, -1] - draws[:, 0]
    z = (levels[-1] - levels[0]) / max(float(np.std(spread, ddof=1)), 1e-12)
    text = (
        f"level at 6/12/24 months {levels[0]:+.2f}/{levels[1]:+.2f}/{levels[2]:+.2f} "
        f"(24 minus 6: z = {z:+.1f})"
    )
    if requested == "auto" and abs(z) <= SLOPE_Z:
        return a, None, f"{text}: one level kept"
    curve = level_curve(levels)
    updated = _updated_cumhaz(curves["relapse_cumhaz"], curve, slope)
    if np.any(np.diff(updated, axis=1) < -1e-9):
        return a, None, f"{text}: one level kept (levels by horizon would make a hazard fall)"
    return curve, [float(v) for v in levels], f"{text}: a level by horizon"


class CrossFitted:
    """Out-of-sample predictions of an update: each row (by its key) by the update estimated
    without its fold. `models[k]` was estimated on every fold but `folds[k]`."""

    def __init__(self, models: list, folds: list[pd.Index]):
        self.models, self.folds = models, folds

    def _by_fold(self, method: str, X: pd.DataFrame, *args) -> np.ndarray:
        out, done = None, np.zeros(len(X), bool)
        for model, keys in zip(self.models, self.folds):
            rows = X.index.isin(keys)
            if not rows.any():
                continue
            got = np.asarray(getattr(model, method)(X.loc[rows], *args), float)
            if out is None:
                out = np.empty((len(X), *got.shape[1:]))
            out[rows], done[rows] = got, True
        if not done.all():
            raise ValueError(f"{int((~done).sum())} rows are in no fold")
        return out

    def linear_predictor(self, X):
        return self._by_fold("linear_predictor", X)

    def predict_risk(self, X):
        return self._by_fold("predict_risk", X)

    def predict_survival(self, X, grid):
        return self._by_fold("predict_survival", X, grid)


def _updated_cumhaz(cumhaz: np.ndarray, intercept, slope: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(intercept + slope * np.log(cumhaz))


def two_cause_horizon_fit(
    log_relapse: np.ndarray,
    nrm: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    fit_slope: bool,
    counts: np.ndarray | None = None,
):
    """(a, b) of P(PFS event by h) = 1 - exp(-(exp(a + b log H_relapse(h)) + H_nrm(h))), one
    pair for 6, 12 and 24 months at once (`training.calibration.fit_horizons`), b fixed at 1
    unless `fit_slope`. log_relapse, nrm : (n, 3) at the horizons."""
    return fit_horizons(
        log_relapse, time, event, offset=nrm, slope=None if fit_slope else 1.0, counts=counts
    )


def _choose_slope(
    fit, method: str, seed: int, n: int
) -> tuple[float, float, float | None, str, str]:
    """`intercept`, `slope` or `auto` (slope when it differs from 1 at the 5% level by a
    bootstrap SE): returns (a, b, se, method, reason). `fit(fit_slope, counts)` fits on the
    sample (counts None) or on resamples of it (counts: (B, n))."""
    a, slope = fit(False, None)
    se, reason = None, "recalibration in the large asked for"
    if method in ("slope", "auto"):
        a_slope, fitted = fit(True, None)
        draws = fit(True, resample_counts(n, seed, 0, SLOPE_BOOTSTRAP))[1]
        se = float(np.std(draws, ddof=1))
        z = (fitted - 1) / se
        if method == "slope":
            a, slope, reason = a_slope, fitted, "slope update asked for"
        elif abs(z) > SLOPE_Z:
            a, slope, method = a_slope, fitted, "slope"
            reason = (
                f"slope {fitted:.2f} (bootstrap SE {se:.2f}) differs from 1 at "
                f"the 5% level (z = {z:+.1f}): slope and baseline updated"
            )
        else:
            method = "intercept"
            reason = (
                f"slope {fitted:.2f} (bootstrap SE {se:.2f}) does not differ "
                f"from 1 at the 5% level (z = {z:+.1f}): baseline only"
            )
    return a, slope, se, method, reason


def estimate_update(
    base, frame: pd.DataFrame, landmark: str, method: str, seed: int = 0
) -> tuple[Update, RecalibratedModel | RecalibratedTwoCause]:
    """Estimate one landmark's update on the landmark's patients of `frame`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    requested = method
    if method == "horizons":
        method = "auto"
    part = frame.loc[landmark_mask(frame, landmark)]
    time = part[PFS_MONTHS].to_numpy(float)
    event = part[PFS_EVENT].to_numpy(float)
    if (
        event[time <= CALIBRATION_HORIZON].sum() < MIN_EVENTS
        or (time > CALIBRATION_HORIZON).sum() < MIN_EVENTS
    ):
        raise ValidationError(
            f"{landmark} landmark: {len(part)} patients to update on, with "
            f"{int(event[time <= CALIBRATION_HORIZON].sum())} events by 12 months and "
            f"{int((time > CALIBRATION_HORIZON).sum())} followed past it; at least "
            f"{MIN_EVENTS} of each are needed (a few hundred patients for a useful update)"
        )
    X = encode(part, landmark)
    if getattr(base, "has_curves", False):
        curves = base.curves(X[base.feature_names].to_numpy(dtype=np.float32))
        relapse = curves["relapse_cumhaz"][:, list(HORIZON_INDEX)]
        nrm = np.maximum(-np.log(curves["event_free"][:, list(HORIZON_INDEX)]) - relapse, 0.0)
        log_relapse = np.log(np.maximum(relapse, 1e-300))
        a, slope, se, method, reason = _choose_slope(
            lambda s, c: two_cause_horizon_fit(
                log_relapse, nrm, time, event, fit_slope=s, counts=c
            ),
            method,
            seed,
            len(part),
        )
        reason = reason.replace(
            "slope and baseline updated", "relapse hazard's slope and level updated"
        ).replace("baseline only", "relapse hazard's level only")
        intercept, levels, level_reason = _levels(
            log_relapse, nrm, time, event, a, slope, method, requested, seed, curves
        )
        return (
            Update(
                landmark,
                method if levels is None else f"{method}+horizons",
                slope,
                se,
                f"{reason}; {level_reason}",
                len(part),
                int(event.sum()),
                intercept=a,
                levels=levels,
            ),
            RecalibratedTwoCause(base, intercept, slope),
        )
    lp = base.linear_predictor(X)
    a, slope, se, method, reason = _choose_slope(
        lambda s, c: horizon_fit(lp, time, event, fit_slope=s, counts=c), method, seed, len(part)
    )
    breslow = BreslowEstimator().fit(slope * lp, event.astype(bool), time)
    times = np.asarray(breslow.cum_baseline_hazard_.x, float)
    shape = np.asarray(breslow.cum_baseline_hazard_.y, float)
    at_horizon = RecalibratedModel(base, slope, times, shape).horizon_cumhaz_[
        HORIZONS_MONTHS.index(CALIBRATION_HORIZON)
    ]
    model = RecalibratedModel(base, slope, times, shape * np.exp(a) / at_horizon)
    return Update(landmark, method, slope, se, reason, len(part), int(event.sum())), model


@dataclass
class RecalibrationResult:
    version: str
    parent: str
    updates: dict[str, Update]
    before: dict[str, LandmarkValidation]
    after: dict[str, LandmarkValidation]
    decision: GateDecision
    promoted: bool


def split_cohort(
    frame: pd.DataFrame, update_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(update part, check part), stratified by PFS event."""
    if not 0 < update_fraction < 1:
        raise ValueError(f"update_fraction must be between 0 and 1, got {update_fraction}")
    update, check = train_test_split(
        np.arange(len(frame)),
        train_size=update_fraction,
        random_state=seed,
        stratify=frame[PFS_EVENT],
    )
    return frame.iloc[update], frame.iloc[check]


def recalibrate(
    registry: Registry,
    cohort: Cohort,
    *,
    version: str | None = None,
    method: str = "auto",
    update_fraction: float = 0.5,
    seed: int = 0,
    n_boot: int = 100,
    gate_bootstrap: int = DEFAULT_GATE_BOOTSTRAP,
    tolerances: GateTolerances = GateTolerances(),
    progress: bool = False,
    stages: Stages | None = None,
    store=None,
    n_jobs: int = 1,
) -> RecalibrationResult:
    """Update a registered version to `cohort`'s population, register the result as a new
    version (parent and update rows recorded) and promote it when the parent is production
    and the gate passes on the patients neither the parent nor the update has seen.

    `n_boot` resamples give the report's intervals (`validate`'s figures before and after);
    `gate_bootstrap` the gate's. `store`: the registry's cohort store, to rebuild the parent's
    development cohort and leave its rows out of the check rows.
    """
    stages = stages or Stages("recalibrate", quiet=True)
    loaded = registry.load(version)
    parent = ScoringModel(loaded)
    first, second = split_cohort(cohort.frame, update_fraction, seed)
    everyone = cohort.frame
    with stages.stage("rows the parent has seen"):
        base = _development_cohort(loaded, store)
        seen = {lm: set(seen_rows(registry, loaded, base, lm)) for lm in LANDMARKS}
    updates, models, before, after, checks = {}, {}, {}, {}, {}
    comparisons, crossed = {}, {}
    # The PFS landmarks' graphs are replaced below; any other (the progression model) is
    # carried over unchanged.
    artifacts = dict(loaded.artifacts)
    metadata = {
        k: v
        for k, v in loaded.metadata.items()
        if k not in ("version", "created", "artifacts", "files", "integrity")
    }
    metadata["landmarks"] = {lm: dict(info) for lm, info in metadata["landmarks"].items()}
    for lm in LANDMARKS:
        base_model = parent.landmarks[lm]
        with stages.stage(f"{lm}: update (all rows, and each fold for the assessment)"):
            updates[lm], models[lm] = estimate_update(base_model, everyone, lm, method, seed)
            _, on_first = estimate_update(base_model, first, lm, method, seed)
            _, on_second = estimate_update(base_model, second, lm, method, seed)
        part = everyone.loc[landmark_mask(everyone, lm)]
        checks[lm] = part.loc[~part.index.isin(list(seen[lm]))]
        if len(checks[lm]) < 2 * MIN_EVENTS:
            raise ValidationError(
                f"{lm} landmark: {len(part)} patients, of whom {len(part) - len(checks[lm])} "
                f"were already seen by {loaded.version} (developed or updated on them); "
                f"{len(checks[lm])} are left to judge an update on. Recalibrate on patients "
                "it has not seen"
            )
        # Each row judged by the update estimated on the other fold.
        crossed[lm] = CrossFitted([on_second, on_first], [first.index, second.index])
        name = metadata["landmarks"][lm]["artifact"]
        with stages.stage(f"{lm}: export and parity"):
            if isinstance(models[lm], RecalibratedTwoCause):
                proto = recalibrated_outcome_graph(
                    loaded.artifacts[name], models[lm].intercept, updates[lm].slope
                )
                parity = check_outcome_parity(models[lm], proto, encode(part, lm))
            else:
                # The cause models are kept as they were; the PFS baseline on their grid
                # follows.
                info = metadata["landmarks"][lm].get("cause_models", {})
                causes = CauseModels.from_metadata(info) if "nrm" in info else None
                proto = recalibrated_graph(
                    loaded.artifacts[name],
                    models[lm].slope,
                    models[lm].horizon_cumhaz_,
                    models[lm].cumulative_baseline_hazard(CIF_GRID_MONTHS) if causes else None,
                )
                parity = check_parity(models[lm], proto, encode(part, lm), causes=causes)
                metadata["landmarks"][lm]["baseline"] = {
                    "months": BASELINE_GRID_MONTHS.tolist(),
                    "cumhaz": models[lm].cumulative_baseline_hazard(BASELINE_GRID_MONTHS).tolist(),
                }
        artifacts[name] = proto.SerializeToString()
        metadata["landmarks"][lm].update(
            {
                "onnx_parity_max_abs": parity,
                "recalibration": {
                    "method": updates[lm].method,
                    "slope": updates[lm].slope,
                    "intercept": updates[lm].intercept,
                    "levels_6_12_24m": updates[lm].levels,
                    "slope_se": updates[lm].slope_se,
                    "reason": updates[lm].reason,
                    "n_update": updates[lm].n,
                    "events_update": updates[lm].events,
                    "n_assessed": int(len(checks[lm])),
                    "rows_seen_by_the_parent": int(len(part) - len(checks[lm])),
                },
            }
        )
        with stages.stage(f"{lm}: validation before and after (cross-fitted)"):
            before[lm] = validate_landmark(
                base_model, checks[lm], lm, n_boot, seed, progress, n_jobs
            )
            after[lm] = validate_landmark(
                crossed[lm], checks[lm], lm, n_boot, seed, progress, n_jobs
            )
        with stages.stage(f"{lm}: gate"):
            X = encode(checks[lm], lm)
            comparisons[lm] = paired_comparison(
                base_model.predict_risk(X),
                crossed[lm].predict_risk(X),
                checks[lm][PFS_MONTHS].to_numpy(float),
                checks[lm][PFS_EVENT].to_numpy(float),
                n_boot=gate_bootstrap,
                seed=seed,
                progress=progress,
                label=f"{lm} gate",
            )
    estimates = {
        label: {lm: {k: f["estimate"] for k, f in result[lm].figures.items()} for lm in LANDMARKS}
        for label, result in (("before", before), ("after", after))
    }
    decision = compare(comparisons, tolerances)
    metadata.update(
        {
            "parent_version": loaded.version,
            "recalibration": {
                "cohort": cohort.description,
                "update_fraction": update_fraction,
                "seed": seed,
                "requested_method": method,
                "assessment": "two-fold cross-fitting",
                "check_rows": {lm: int(len(c)) for lm, c in checks.items()},
                "update_rows": int(len(everyone)),
                "update_rows_file": UPDATE_ROWS_FILE,
                "assessment_on_check_rows": estimates,
                "gate": {
                    "rule": decision.rule,
                    "bootstrap": gate_bootstrap,
                    "cross_fitted": True,
                    "promote": decision.promote,
                    "rows": decision.rows,
                },
            },
        }
    )
    card = registry.file(loaded.version, "model_card.md").decode()
    files = _report_files(loaded.version, card, metadata, updates, before, after, decision)
    # The rows the update was estimated on: seen by this version and every later one.
    files[UPDATE_ROWS_FILE] = json.dumps([str(k) for k in everyone.index]).encode()
    new_version = registry.register(artifacts, metadata, files)
    promoted = False
    if decision.promote and registry.production() == loaded.version:
        registry.promote(new_version, expected_production=loaded.version)
        promoted = True
    stages.finish()
    return RecalibrationResult(
        new_version, loaded.version, updates, before, after, decision, promoted
    )


def _development_cohort(loaded, store) -> Cohort | None:
    """The parent's development cohort, rebuilt and checked against its hash; None when it
    cannot be (then only the update rows along its ancestry count as seen)."""
    from features.errors import SchemaError

    try:
        return cohort_from_description(loaded.metadata["cohort"], store)
    except (RegistryError, SchemaError, OSError, KeyError, TypeError):
        return None


def _report_files(
    parent: str, card: str, metadata, updates, before, after, decision
) -> dict[str, bytes]:
    from training.evaluation.external_validation import format_figure
    from training.report import plot_external_calibration

    rows = [
        ("observed_expected_6m", "O/E 6 months"),
        ("observed_expected_12m", "O/E 12 months"),
        ("observed_expected_24m", "O/E 24 months"),
        ("calibration_intercept_12m", "calibration intercept 12 months"),
        ("calibration_slope_12m", "calibration slope 12 months"),
        ("observed_12m", "observed risk 12 months (1 - KM)"),
        ("expected_12m", "mean predicted risk 12 months"),
        ("harrell_c", "Harrell's C"),
        ("integrated_brier", "integrated Brier"),
    ]
    info = metadata["recalibration"]
    lines = [
        f"# Recalibration of {parent}",
        "",
        metadata["notice"],
        "",
        f"Cohort: {info['cohort'].get('source')} {info['cohort'].get('path', '')} "
        f"(n = {info['cohort'].get('n')}); updated on all {info['update_rows']} "
        "patients, assessed below by two-fold cross-fitting (each patient judged by the "
        "update estimated on the other fold; stratified split, seed "
        f"{info['seed']}) on those the parent had not seen ("
        + ", ".join(f"{lm} {n}" for lm, n in info["check_rows"].items())
        + f"). Requested method: {info['requested_method']}.",
        "",
    ]
    files = {}
    for lm, u in updates.items():
        lines += [
            f"## Landmark: {lm}",
            "",
            f"Method: **{u.method}** (slope {u.slope:.3f}); "
            f"{u.reason}. Estimated on {u.n} patients with {u.events} events.",
            "",
            "| figure (cross-fitted: each patient out of sample) | before | after |",
            "|---|---|---|",
        ]
        lines += [
            f"| {label} | {format_figure(before[lm].figures[key])} | "
            f"{format_figure(after[lm].figures[key])} |"
            for key, label in rows
        ]
        for label, result in (("before", before[lm]), ("after", after[lm])):
            files[f"plots/{lm}_calibration_{label}.png"] = plot_external_calibration(
                result, f"{lm} landmark, {label} recalibration (check patients)"
            )
        lines += [
            "",
            f"![before](plots/{lm}_calibration_before.png)",
            f"![after](plots/{lm}_calibration_after.png)",
            "",
        ]
    lines += [
        "## Gate (parent = champion, recalibrated = challenger, check patients)",
        "",
        "```",
        decision.table(),
        "```",
        "",
    ]
    files["report.md"] = "\n".join(lines).encode()
    card += (
        "\n## Recalibration\n"
        + "\n".join(
            f"- {lm}: {u.method}, slope {u.slope:.3f} ({u.reason}); on {u.n} patients."
            for lm, u in updates.items()
        )
        + "\n\nUpdated on: "
        + "; ".join(describe_lineage(info["cohort"]))
        + f" ({info['update_rows']} rows; their keys are in {UPDATE_ROWS_FILE})."
        + "\nDeveloped on: "
        + "; ".join(describe_lineage(metadata["cohort"]))
        + f".\nParent version: {parent}.\n"
    )
    files["model_card.md"] = card.encode()
    return files
