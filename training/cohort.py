"""Training cohorts: the default synthetic one, or a CSV validated by the feature layer."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import COLUMNS, INFUSION
from features.validate import validate_frame
from synthetic.generator import DAY28_MONTHS, canonical, load_params, simulate

DEFAULT_N = 50_000
DEFAULT_SEED = 20260101


@dataclass
class Cohort:
    """Validated rows with outcomes, how they were obtained, and what was rejected."""

    frame: pd.DataFrame
    description: dict
    errors: pd.DataFrame
    n_read: int

    @property
    def sha256(self) -> str:
        return self.description["sha256"]


def frame_hash(frame: pd.DataFrame) -> str:
    """Content hash of the canonical columns (order-sensitive), for the model's metadata."""
    cols = [c for c in COLUMNS if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def synthetic_cohort(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Cohort:
    """A cohort from the calibrated generator (deterministic in n and seed)."""
    raw = canonical(simulate(n, seed))
    result = validate_frame(raw, require_outcomes=True, nan_is_missing=True)
    description = {"source": "synthetic", "n": n, "seed": seed,
                   "generator_params_version": load_params().version}
    description["sha256"] = frame_hash(result.frame)
    return Cohort(result.frame, description, result.errors, result.n_rows)


def read_cohort(path: str | Path) -> Cohort:
    """Read and validate a cohort CSV (outcomes required); rejected rows are reported."""
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                      compression="infer")
    result = validate_frame(raw, require_outcomes=True)
    description = {"source": "file", "path": str(path), "n": int(result.n_valid)}
    description["sha256"] = frame_hash(result.frame)
    return Cohort(result.frame, description, result.errors, result.n_rows)


def combine(a: Cohort, b: Cohort) -> Cohort:
    """Two cohorts as one training set (the new one appended)."""
    frame = pd.concat([a.frame, b.frame], ignore_index=True)
    description = {"source": "combined", "parts": [a.description, b.description],
                   "n": int(len(frame)), "sha256": frame_hash(frame)}
    errors = pd.concat([a.errors, b.errors], ignore_index=True)
    return Cohort(frame, description, errors, a.n_read + b.n_read)


def landmark_mask(frame: pd.DataFrame, landmark: str) -> np.ndarray:
    """Rows eligible for a landmark: everyone at infusion; at day 28, those still alive and
    event-free (time stays measured from infusion)."""
    if landmark == INFUSION:
        return np.ones(len(frame), bool)
    return (frame["pfs_months"].to_numpy(float) > DAY28_MONTHS)
