"""Retraining job (`relapse-risk retrain`): add a new cohort, train a challenger, gate it
against production."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from features.encode import encode
from features.mapping import Mapping
from features.schema import LANDMARKS, PFS_EVENT, PFS_MONTHS
from model_registry.cohorts import CohortStore
from model_registry.registry import Registry, RegistryError
from model_registry.scoring import ScoringModel
from training.choices import resolve_strategy
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
from training.develop import DEFAULT_BOOTSTRAP as DEFAULT_DEVELOP_BOOTSTRAP
from training.develop import develop_landmark
from training.progress import Stages
from training.train import fit_landmark, split_indices, train_version
from training.updating.gate import DEFAULT_BOOTSTRAP as DEFAULT_GATE_BOOTSTRAP
from training.updating.gate import GateDecision, GateTolerances, compare, paired_comparison
from training.updating.lineage import seen_rows


@dataclass
class RetrainResult:
    challenger: str
    champion: str
    decision: GateDecision
    promoted: bool
    rejected: pd.DataFrame
    n_new_rows: int
    new_cohort_id: str = ""
    # Row keys (cohort id/row) of the unseen patients each landmark was gated on, and of those
    # its challenger's family was chosen on (disjoint from them).
    validation_keys: dict = None
    selection_keys: dict = None
    strategy: str = "holdout"


# The share of unseen rows a resampling challenger is not developed on, to be gated on.
GATE_SHARE = 0.3


def retrain(
    new_cohort: str | Path,
    registry: Registry,
    *,
    seed: int = 0,
    tolerances: GateTolerances = GateTolerances(),
    progress: bool = False,
    mapping: Mapping | None = None,
    n_boot: int = DEFAULT_GATE_BOOTSTRAP,
    strategy: str = "auto",
    bootstrap: int = DEFAULT_DEVELOP_BOOTSTRAP,
    stages: Stages | None = None,
    n_jobs: int = 1,
) -> RetrainResult:
    """Train a challenger on production's data plus `new_cohort` (read through `mapping` when
    it is a registry export); promote it only if it is shown no worse on patients neither
    model has seen.

    Leaks closed: the gate's rows are outside every row production has seen
    (`training.updating.lineage.seen_rows`: its development rows and its updates' rows).
    With a hold-out (`strategy` "holdout", or "auto" from `RESAMPLING_BELOW_N` patients), the
    challenger's family is chosen on half of its test split and gated on the other half; by
    resampling (smaller cohorts, as `train` would), `GATE_SHARE` of the unseen rows is set
    aside before development and gated on.
    """
    stages = stages or Stages("retrain", quiet=True)
    production = registry.load()
    store = CohortStore(registry)
    with stages.stage("read the new cohort"):
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
                raise RegistryError(
                    f"cohort {new_id} is already in production's training data ({', '.join(ids)})"
                )
            # One description listing every stored cohort: the lineage of the challenger.
            combined = stored_cohort(store, ids + [new_id])
        else:
            combined = combine(base, new)
    with stages.stage("rows production has seen"):
        seen = {lm: seen_rows(registry, production, base, lm) for lm in LANDMARKS}
    strategy = resolve_strategy(strategy, len(combined.frame))
    gate_frames, selection_keys, extra = {}, {}, {}
    if strategy == "resampling":
        everything_seen = np.concatenate(list(seen.values()))
        unseen = combined.frame.loc[~combined.frame.index.isin(everything_seen)]
        if len(unseen) < 20:
            raise RegistryError(
                f"only {len(unseen)} rows of the combined cohort are unseen by "
                f"production {production.version}: nothing to gate on"
            )
        _, held = train_test_split(
            np.arange(len(unseen)),
            test_size=GATE_SHARE,
            random_state=seed,
            stratify=unseen[PFS_EVENT],
        )
        held_out = unseen.index[held]
        development = Cohort(
            combined.frame.drop(index=held_out),
            combined.description,
            combined.errors,
            combined.n_read,
        )
        fits = {}
        for lm in LANDMARKS:
            with stages.stage(f"{lm}: develop by resampling"):
                fits[lm] = develop_landmark(
                    development,
                    lm,
                    seed=seed,
                    bootstrap=bootstrap,
                    progress=progress,
                    n_jobs=n_jobs,
                )
            gate_frames[lm] = combined.frame.loc[held_out].loc[
                landmark_mask(combined.frame.loc[held_out], lm)
            ]
            selection_keys[lm] = pd.Index([])
        extra["held_out_for_gate"] = int(len(held_out))
    else:
        fits = {}
        for lm in LANDMARKS:
            frame = combined.frame.loc[landmark_mask(combined.frame, lm)]
            _, test_pos = split_indices(len(frame), frame[PFS_EVENT].to_numpy(float), seed)
            select_pos, gate_pos = train_test_split(
                test_pos,
                test_size=0.5,
                random_state=seed,
                stratify=frame[PFS_EVENT].to_numpy()[test_pos],
            )
            with stages.stage(f"{lm}: fit the families"):
                fits[lm] = fit_landmark(
                    combined, lm, seed, progress, select_on=frame.index[np.sort(select_pos)]
                )
            selection_keys[lm] = frame.index[np.sort(select_pos)]
            gate = frame.iloc[np.sort(gate_pos)]
            gate_frames[lm] = gate.loc[~gate.index.isin(seen[lm])]
    champion_model = ScoringModel(production)
    comparisons, validation_keys = {}, {}
    for lm, fit in fits.items():
        gate = gate_frames[lm]
        X = encode(gate, lm)
        validation_keys[lm] = gate.index
        with stages.stage(f"{lm}: gate"):
            # Same patients, same resamples, same censoring estimate, for both.
            comparisons[lm] = paired_comparison(
                champion_model.landmarks[lm].predict_risk(X),
                fit.models[fit.champion].predict_risk(X),
                gate[PFS_MONTHS].to_numpy(float),
                gate[PFS_EVENT].to_numpy(float),
                n_boot=n_boot,
                seed=seed,
                progress=progress,
                label=lm,
            )
    decision = compare(comparisons, tolerances)
    with stages.stage("register the challenger"):
        version, _ = train_version(
            combined,
            registry,
            seed=seed,
            parent_version=production.version,
            landmark_fits=fits,
            extra_metadata={
                "gate": {
                    "champion": production.version,
                    "rule": decision.rule,
                    "bootstrap": n_boot,
                    "promote": decision.promote,
                    "strategy": strategy,
                    "rows": decision.rows,
                    **extra,
                }
            },
        )
    promoted = False
    if decision.promote:
        registry.promote(version, expected_production=production.version)
        promoted = True
    stages.finish()
    return RetrainResult(
        version,
        production.version,
        decision,
        promoted,
        rejected,
        n_read,
        new_id,
        validation_keys,
        selection_keys,
        strategy,
    )
