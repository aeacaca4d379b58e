"""Training cohorts: the default synthetic one, or a CSV validated by the feature layer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import FieldError, SchemaError
from features.mapping import Mapping, apply_mapping
from features.schema import COLUMNS, INFUSION, PFS_EVENT_TYPE, PFS_MONTHS
from features.validate import validate_frame
from model_registry.cohorts import CohortStore
from model_registry.registry import RegistryError
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


# Version 1 hashes (models trained before pfs_event_type existed) leave that column out.
HASH_VERSION = 2
_V1_COLUMNS = tuple(c for c in COLUMNS if c != PFS_EVENT_TYPE)


def frame_hash(frame: pd.DataFrame, version: int = HASH_VERSION) -> str:
    """Content hash of the canonical columns (order-sensitive), for the model's metadata."""
    cols = [c for c in (COLUMNS if version >= 2 else _V1_COLUMNS) if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _keyed(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Index rows by stable keys `prefix/row` (row: 0-based position in the source, so a
    rejected row leaves a gap rather than renumbering the rest)."""
    frame.index = pd.Index([f"{prefix}/{i:06d}" for i in frame.index], name="row_key")
    return frame


def synthetic_cohort(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Cohort:
    """A cohort from the calibrated generator (deterministic in n and seed)."""
    raw = canonical(simulate(n, seed))
    result = validate_frame(raw, require_outcomes=True, nan_is_missing=True)
    description = {
        "source": "synthetic",
        "n": n,
        "seed": seed,
        "generator_params_version": load_params().version,
        "hash_version": HASH_VERSION,
    }
    description["sha256"] = frame_hash(result.frame)
    return Cohort(
        _keyed(result.frame, f"synthetic-{seed}-{n}"), description, result.errors, result.n_rows
    )


def read_cohort(
    path: str | Path, mapping: Mapping | None = None, keep: tuple[str, ...] = ()
) -> Cohort:
    """Read and validate a cohort CSV (outcomes required); rejected rows are reported.

    `mapping`: a registry export's own columns, codes, units and dates (`features.mapping`).
    `keep`: columns passed through unvalidated beside the canonical ones (a centre to
    validate by).
    """
    path = Path(path)
    raw = pd.read_csv(
        path, dtype=str, keep_default_na=False, encoding="utf-8-sig", compression="infer"
    )
    return cohort_from_rows(raw, path, mapping, keep)


def cohort_from_rows(
    raw: pd.DataFrame, path: Path, mapping: Mapping | None = None, keep: tuple[str, ...] = ()
) -> Cohort:
    """Validated rows of a file already read (`raw`: canonical cells, or an export's own
    columns through `mapping`), described and keyed as `read_cohort` does."""
    absent = [c for c in keep if c not in raw.columns]
    if absent:
        raise SchemaError(
            [
                FieldError(
                    None,
                    c,
                    "",
                    f"no such column in the file (columns: {', '.join(map(str, raw.columns))})",
                )
                for c in absent
            ]
        )
    kept = raw[list(keep)]
    raw = raw.drop(columns=list(keep))
    if mapping is None:
        result = validate_frame(raw, require_outcomes=True)
    else:
        result = apply_mapping(raw, mapping, require_outcomes=True)
    for column in keep:
        result.frame[column] = kept.loc[result.frame.index, column]
    description = {
        "source": "file",
        "path": str(path),
        "n": int(result.n_valid),
        "hash_version": HASH_VERSION,
    }
    if mapping is not None:
        description["mapping"] = mapping.source
    description["sha256"] = frame_hash(result.frame)
    return Cohort(
        _keyed(result.frame, f"file-{description['sha256'][:12]}"),
        description,
        result.errors,
        result.n_rows,
    )


def stored_cohort(store: CohortStore, ids: list[str]) -> Cohort:
    """Cohorts of the registry's store as one training set, rows keyed `cNNNN/row`."""
    frames, parts = [], []
    for cohort_id in ids:
        stored = store.load(cohort_id)
        result = validate_frame(stored.frame, require_outcomes=True, nan_is_missing=True)
        if len(result.errors):
            raise SchemaError(
                [
                    FieldError(
                        None,
                        "cohort",
                        cohort_id,
                        f"stored rows no longer pass the current schema: {result.errors.iloc[0]}",
                    )
                ]
            )
        frames.append(result.frame)
        parts.append(
            {
                "id": cohort_id,
                "name": stored.record["name"],
                "content_sha256": stored.record["content_sha256"],
            }
        )
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    description = {
        "source": "store",
        "cohorts": parts,
        "n": int(len(frame)),
        "hash_version": HASH_VERSION,
        "sha256": frame_hash(frame),
    }
    return Cohort(
        frame, description, pd.DataFrame(columns=["row", "field", "value", "error"]), len(frame)
    )


def combine(a: Cohort, b: Cohort) -> Cohort:
    """Two cohorts as one training set (the new one appended; row keys kept)."""
    frame = pd.concat([a.frame, b.frame])
    if frame.index.has_duplicates:
        raise ValueError("the same rows twice in one training set (a cohort added twice?)")
    description = {
        "source": "combined",
        "parts": [a.description, b.description],
        "n": int(len(frame)),
        "hash_version": HASH_VERSION,
        "sha256": frame_hash(frame),
    }
    errors = pd.concat([a.errors, b.errors], ignore_index=True)
    return Cohort(frame, description, errors, a.n_read + b.n_read)


def landmark_mask(frame: pd.DataFrame, landmark: str) -> np.ndarray:
    """Rows eligible for a landmark: everyone at infusion; at day 28, those still alive and
    event-free (time stays measured from infusion)."""
    if landmark == INFUSION:
        return np.ones(len(frame), bool)
    return frame[PFS_MONTHS].to_numpy(float) > DAY28_MONTHS


def store_cohort(store: CohortStore, cohort: Cohort, name: str) -> tuple[str, bool]:
    """Put a validated cohort in the registry's store; returns (id, newly stored)."""
    from features.schema import SCHEMA_VERSION

    columns = [c for c in COLUMNS if c in cohort.frame.columns]
    source = cohort.description.get("path")
    return store.add(
        cohort.frame[columns],
        name=name,
        source=Path(source).name if source else cohort.description["source"],
        content_sha256=frame_hash(cohort.frame),
        rows_read=cohort.n_read,
        rows_rejected=cohort.n_read - len(cohort.frame),
        schema_version=SCHEMA_VERSION,
        mapping=cohort.description.get("mapping"),
    )


def is_cohort_id(text: str) -> bool:
    return len(text) == 5 and text[0] == "c" and text[1:].isdigit()


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
        raise RegistryError(
            "the production model's training cohort cannot be rebuilt "
            f"identically ({source}: content hash differs); retrain from a "
            "full cohort with `relapse-risk train --cohort` instead"
        )
    return cohort


def describe_lineage(description: dict) -> list[str]:
    """Where a cohort's rows came from, one entry per source cohort (for `registry show`,
    the model card and the recalibration report alike)."""
    source = description.get("source")
    if source == "combined":
        return [line for part in description["parts"] for line in describe_lineage(part)]
    if source == "store":
        return [
            f"cohort {c['id']} {c['name']!r} (sha256 {c['content_sha256'][:12]})"
            for c in description["cohorts"]
        ]
    if source == "synthetic":
        return [f"synthetic n={description['n']} seed={description['seed']}"]
    return [
        f"{source} {description.get('path', '')} n={description.get('n')} (sha256 "
        f"{description.get('sha256', '')[:12]}; not in the cohort store)"
    ]
