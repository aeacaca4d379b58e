"""Retraining job: add a new cohort, train a challenger, gate it against production."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import LANDMARKS
from model_registry.gate import GateDecision, GateTolerances, compare
from model_registry.registry import Registry, RegistryError
from model_registry.scoring import ScoringModel
from training.cohort import Cohort, combine, landmark_mask, read_cohort, synthetic_cohort
from training.evaluate import evaluate
from training.train import fit_landmark, split_indices, train_version


@dataclass
class RetrainResult:
    challenger: str
    champion: str
    decision: GateDecision
    promoted: bool
    rejected: pd.DataFrame
    n_new_rows: int


def cohort_from_description(description: dict) -> Cohort:
    """Rebuild the training cohort a version recorded (synthetic cohorts are deterministic)."""
    source = description["source"]
    if source == "synthetic":
        cohort = synthetic_cohort(description["n"], description["seed"])
    elif source == "file":
        cohort = read_cohort(description["path"])
    elif source == "combined":
        parts = [cohort_from_description(p) for p in description["parts"]]
        cohort = parts[0]
        for part in parts[1:]:
            cohort = combine(cohort, part)
    else:
        raise RegistryError(f"unknown cohort source {source!r} in the production metadata")
    if cohort.sha256 != description["sha256"]:
        raise RegistryError("the production model's training cohort cannot be rebuilt "
                            f"identically ({source}: content hash differs); retrain from a "
                            "full cohort with `relapse-risk train --cohort` instead")
    return cohort


def champion_training_rows(base: Cohort, landmark: str, seed: int,
                           strategy: str = "holdout") -> np.ndarray:
    """Row labels of `base` that the production model was trained on at a landmark (all of
    them when it was developed by resampling)."""
    frame = base.frame.loc[landmark_mask(base.frame, landmark)]
    if strategy == "resampling":
        return frame.index.to_numpy()
    event = frame["pfs_event"].to_numpy(float)
    train_pos, _ = split_indices(len(frame), event, seed)
    return frame.index.to_numpy()[train_pos]


def retrain(new_cohort: str | Path, registry: Registry, *, seed: int = 0,
            tolerances: GateTolerances = GateTolerances(), progress: bool = False
            ) -> RetrainResult:
    """Train a challenger on production's data plus `new_cohort`; promote only if no worse."""
    production = registry.load()
    new = read_cohort(new_cohort)
    base = cohort_from_description(production.metadata["cohort"])
    combined = combine(base, new)
    fits = {lm: fit_landmark(combined, lm, seed, progress) for lm in LANDMARKS}
    champion_model = ScoringModel(production)
    champion_metrics, challenger_metrics = {}, {}
    for lm, fit in fits.items():
        # Validate on held-out patients neither model was trained on: the challenger's test
        # split, less the base rows the champion was trained on (its split is reproducible).
        development = production.metadata["landmarks"][lm].get("development", {})
        seen = champion_training_rows(base, lm, production.metadata.get("seed", 0),
                                      development.get("strategy", "holdout"))
        unseen = ~np.isin(fit.X_test.index.to_numpy(), seen)
        X, t, e = fit.X_test[unseen], fit.time_test[unseen], fit.event_test[unseen]
        # Same patients, same censoring estimate, for both.
        champion_metrics[lm] = evaluate(champion_model.landmarks[lm], X, t, e, t, e)
        challenger_metrics[lm] = evaluate(fit.models[fit.champion], X, t, e, t, e)
    decision = compare(champion_metrics, challenger_metrics, tolerances)
    version, _ = train_version(combined, registry, seed=seed, parent_version=production.version,
                               landmark_fits=fits)
    promoted = False
    if decision.promote:
        registry.promote(version, expected_production=production.version)
        promoted = True
    return RetrainResult(version, production.version, decision, promoted, new.errors,
                         new.n_read)
