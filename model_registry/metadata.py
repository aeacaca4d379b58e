"""The shape of a version's `metadata.json`, typed: what training writes, the registry
verifies and records, and the CLI, the service and updating read.

`TypedDict`s, so that the JSON stays plain (older versions load as they are) while a type
checker and a test (`tests/model_registry/test_metadata.py`) hold every writer and reader to
the same keys. A key added to the metadata is added here first.
"""

from typing import Any, NotRequired, TypedDict


class CurveGrid(TypedDict):
    step_months: float
    last_months: float


class Recalibration(TypedDict):
    """A landmark's update (`relapse-risk recalibrate`)."""

    method: str
    slope: float
    intercept: float
    levels_6_12_24m: list[float] | None
    slope_se: float | None
    reason: str
    n_update: int
    events_update: int
    n_assessed: int
    rows_seen_by_the_parent: int


class LandmarkInfo(TypedDict):
    """One PFS landmark's model (metadata["landmarks"][landmark])."""

    family: str
    champion_reason: str
    artifact: str
    feature_names: list[str]
    horizons_months: list[float]
    risk_group_thresholds_12m: list[float]
    # "two_cause" (relapse and NRM integrated together) or "pfs" (versions before it).
    outcome: str
    curve_grid: CurveGrid | None
    baseline: dict[str, list[float]] | None
    population_pfs: dict[str, list[float]]
    onnx_parity_max_abs: float
    n_train: int
    n_test: int
    metrics: dict[str, dict[str, Any]]
    development: dict[str, Any]
    cause_models: dict[str, Any]
    cause_metrics: dict[str, Any] | None
    contributions: str
    recalibration: NotRequired[Recalibration]


class VersionMetadata(TypedDict):
    """A version's metadata.json. The registry adds `version`, `created`, `artifacts` and
    `files` (their SHA-256) and `integrity` (the digest of the rest) when it registers one."""

    schema_version: str
    schema_hash: str
    cohort: dict[str, Any]
    landmarks: dict[str, LandmarkInfo]
    # The progression landmark's model, or {"absent": why} (absent: before it existed).
    progression: NotRequired[dict[str, Any]]
    parent_version: str | None
    champions: dict[str, str]
    notice: str
    seed: int
    sample_size: NotRequired[dict[str, Any]]
    # A retrained challenger's gate decision (`relapse-risk retrain`).
    gate: NotRequired[dict[str, Any]]
    # An updated version's record (`relapse-risk recalibrate`).
    recalibration: NotRequired[dict[str, Any]]
    version: NotRequired[str]
    created: NotRequired[str]
    artifacts: NotRequired[dict[str, str]]
    files: NotRequired[dict[str, str]]
    integrity: NotRequired[str]


def keys_of(typed: type) -> tuple[set[str], set[str]]:
    """(required, optional) keys of a TypedDict."""
    return set(typed.__required_keys__), set(typed.__optional_keys__)


def shape_problems(metadata: dict) -> list[str]:
    """Keys a version's metadata has that the types do not declare, or lacks that they
    require (empty when it matches)."""
    problems = []

    def check(where: str, value: dict, typed: type) -> None:
        required, optional = keys_of(typed)
        problems.extend(
            f"{where}: undeclared key {k!r}" for k in sorted(set(value) - required - optional)
        )
        problems.extend(f"{where}: missing key {k!r}" for k in sorted(required - set(value)))

    check("metadata", metadata, VersionMetadata)
    for lm, info in metadata.get("landmarks", {}).items():
        check(f"landmarks.{lm}", info, LandmarkInfo)
        if "recalibration" in info:
            check(f"landmarks.{lm}.recalibration", info["recalibration"], Recalibration)
    return problems
