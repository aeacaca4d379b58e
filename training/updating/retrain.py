"""Retraining job (`relapse-risk retrain`): add a new cohort, train a challenger, gate it
against production."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.mapping import Mapping
from features.schema import LANDMARKS
from model_registry.cohorts import CohortStore
from model_registry.registry import Registry, RegistryError
from model_registry.scoring import ScoringModel
from training.cohort import (
    Cohort,
    cohort_from_description,
    combine,
    is_cohort_id,
    landmark_mask,
    read_cohort,
    store_cohort,
    stored_cohort,
)
from training.train import fit_landmark, split_indices, train_version
from training.updating.gate import GateDecision, GateTolerances, compare, paired_comparison


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
