"""Retraining job: add a new cohort, train a challenger, gate it against production."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.mapping import Mapping
from features.schema import LANDMARKS
from model_registry.gate import GateDecision, GateTolerances, compare
from model_registry.registry import Registry, RegistryError
from model_registry.scoring import ScoringModel
from model_registry.cohorts import CohortStore
from training.cohort import (Cohort, combine, frame_hash, is_cohort_id, landmark_mask,
                             read_cohort, store_cohort, stored_cohort, synthetic_cohort)
from training.gating import paired_comparison
from training.train import fit_landmark, split_indices, train_version


@dataclass
class RetrainResult:
    challenger: str
    champion: str
    decision: GateDecision
    promoted: bool
    rejected: pd.DataFrame
    n_new_rows: int
    new_cohort_id: str = ""
    # Row keys (cohort id/row) of the unseen patients each landmark was gated on.
    validation_keys: dict = None


def cohort_from_description(description: dict, store: CohortStore | None = None) -> Cohort:
    """Rebuild the training cohort a version recorded: from the registry's cohort store, or
    (versions trained before it) by regenerating a synthetic cohort or rereading a file."""
    source = description["source"]
    if source == "synthetic":
        cohort = synthetic_cohort(description["n"], description["seed"])
    elif source == "file":
        cohort = read_cohort(description["path"])
    elif source == "store":
        cohort = stored_cohort(store, [p["id"] for p in description["cohorts"]])
    elif source == "combined":
        parts = [cohort_from_description(p, store) for p in description["parts"]]
        cohort = parts[0]
        for part in parts[1:]:
            cohort = combine(cohort, part)
    else:
        raise RegistryError(f"unknown cohort source {source!r} in the production metadata")
    if frame_hash(cohort.frame, description.get("hash_version", 1)) != description["sha256"]:
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
            tolerances: GateTolerances = GateTolerances(), progress: bool = False,
            mapping: Mapping | None = None, n_boot: int = 200) -> RetrainResult:
    """Train a challenger on production's data plus `new_cohort` (read through `mapping` when
    it is a registry export); promote only if no worse."""
    production = registry.load()
    store = CohortStore(registry)
    if is_cohort_id(str(new_cohort)) and not Path(new_cohort).exists():
        new_id, rejected, n_read = str(new_cohort), pd.DataFrame(), 0
    else:
        read = read_cohort(new_cohort, mapping)
        new_id, _ = store_cohort(store, read, Path(new_cohort).stem)
        rejected, n_read = read.errors, read.n_read
    new = stored_cohort(store, [new_id])
    base = cohort_from_description(production.metadata["cohort"], store)
    if base.description["source"] == "store":
        ids = [c["id"] for c in base.description["cohorts"]]
        if new_id in ids:
            raise RegistryError(f"cohort {new_id} is already in production's training data "
                                f"({', '.join(ids)})")
        # One description listing every stored cohort: the lineage of the challenger.
        combined = stored_cohort(store, ids + [new_id])
    else:
        combined = combine(base, new)
    fits = {lm: fit_landmark(combined, lm, seed, progress) for lm in LANDMARKS}
    champion_model = ScoringModel(production)
    comparisons, validation_keys = {}, {}
    for lm, fit in fits.items():
        # Validate on held-out patients neither model was trained on: the challenger's test
        # split, less the base rows the champion was trained on (its split is reproducible).
        development = production.metadata["landmarks"][lm].get("development", {})
        seen = champion_training_rows(base, lm, production.metadata.get("seed", 0),
                                      development.get("strategy", "holdout"))
        unseen = ~np.isin(fit.X_test.index.to_numpy(), seen)
        X, t, e = fit.X_test[unseen], fit.time_test[unseen], fit.event_test[unseen]
        validation_keys[lm] = X.index
        # Same patients, same resamples, same censoring estimate, for both.
        comparisons[lm] = paired_comparison(champion_model.landmarks[lm],
                                            fit.models[fit.champion], X, t, e, n_boot=n_boot,
                                            seed=seed, progress=progress, label=lm)
    decision = compare(comparisons, tolerances)
    version, _ = train_version(combined, registry, seed=seed, parent_version=production.version,
                               landmark_fits=fits, extra_metadata={"gate": {
                                   "champion": production.version, "rule": decision.rule,
                                   "bootstrap": n_boot, "promote": decision.promote,
                                   "rows": decision.rows}})
    promoted = False
    if decision.promote:
        registry.promote(version, expected_production=production.version)
        promoted = True
    return RetrainResult(version, production.version, decision, promoted, rejected, n_read,
                         new_id, validation_keys)
