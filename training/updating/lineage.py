"""Which patients a version has seen: the rows its models were developed on and the rows every
update along its ancestry was estimated on. A gate judges a version only on patients outside
them (`retrain`, `recalibrate`), by row key (`cohort id/row`)."""

from __future__ import annotations

import json

import numpy as np

from features.schema import PFS_EVENT
from model_registry.registry import Registry, RegistryError
from training.cohort import Cohort, landmark_mask
from training.train import split_indices

UPDATE_ROWS_FILE = "update_rows.json"


def development_rows(
    base: Cohort, landmark: str, seed: int, strategy: str = "holdout"
) -> np.ndarray:
    """Row keys of `base` that a version's model was fitted on at a landmark (all of them
    when it was developed by resampling; the training split of a hold-out otherwise, which
    `split_indices` reproduces)."""
    frame = base.frame.loc[landmark_mask(base.frame, landmark)]
    if strategy == "resampling":
        return frame.index.to_numpy()
    event = frame[PFS_EVENT].to_numpy(float)
    train_pos, _ = split_indices(len(frame), event, seed)
    return frame.index.to_numpy()[train_pos]


def updates_along(registry: Registry, loaded) -> list[dict]:
    """The recalibrations from the version's root to it, oldest first: version, method per
    landmark and the cohort each was estimated on."""
    chain, current = [], loaded
    while "recalibration" in current.metadata:
        info = current.metadata["recalibration"]
        chain.append(
            {
                "version": current.version,
                "cohort": info["cohort"],
                "method": ", ".join(
                    f"{lm} {v['recalibration']['method']}"
                    for lm, v in current.metadata["landmarks"].items()
                    if "recalibration" in v
                ),
                "update_rows": _update_rows(registry, current.version),
            }
        )
        parent = current.metadata.get("parent_version")
        if not parent:
            break
        try:
            current = registry.load(parent)
        except RegistryError:
            break
    return chain[::-1]


def _update_rows(registry: Registry, version: str) -> list[str] | None:
    try:
        return json.loads(registry.file(version, UPDATE_ROWS_FILE))
    except (RegistryError, FileNotFoundError, KeyError, ValueError):
        return None  # recalibrated before update rows were recorded


def seen_rows(registry: Registry, loaded, base: Cohort | None, landmark: str) -> np.ndarray:
    """Row keys a version has seen at a landmark: its development rows in `base` (its
    rebuilt training cohort; None when it cannot be rebuilt) and the update rows of every
    recalibration along its ancestry."""
    development = loaded.metadata["landmarks"][landmark].get("development", {})
    seen = (
        []
        if base is None
        else list(
            development_rows(
                base,
                landmark,
                loaded.metadata.get("seed", 0),
                development.get("strategy", "holdout"),
            )
        )
    )
    for update in updates_along(registry, loaded):
        seen += update["update_rows"] or []
    return np.asarray(seen, dtype=object)
