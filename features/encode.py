"""Deterministic encoding from validated records to the numeric model matrix.

Every predictor becomes its value (or the schema's reference value when unknown) plus an
explicit missing indicator, so models learn what "unknown" means instead of guessing it.
Training and serving both call `encode`; the column list travels with each model.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from features.schema import (
    BRIDGING_TYPES,
    DAY28,
    FIELDS_BY_NAME,
    INFUSION,
    PROGRESSION,
    PROGRESSION_PREDICTORS,
    require_landmark,
)

_BRIDGING_TYPES = BRIDGING_TYPES


def _numeric(name: str, transform=None):
    """(value, missing) columns for a numeric field, filled with its reference value."""
    reference = FIELDS_BY_NAME[name].reference

    def build(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        raw = frame[name].to_numpy(dtype=float)
        missing = np.isnan(raw)
        filled = np.where(missing, reference, raw)
        value = transform(filled) if transform else filled
        return {_value_name(name, transform): value, f"{name}_missing": missing.astype(float)}

    return build


def _value_name(name: str, transform) -> str:
    return f"log1p_{name}" if transform is np.log1p else name


def _ldh(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    ldh = frame["ldh_u_l"].to_numpy(dtype=float)
    uln = frame["ldh_uln_u_l"].to_numpy(dtype=float)
    missing = np.isnan(ldh) | np.isnan(uln)
    ratio = np.where(missing, 1.0, ldh / np.where(missing, 1.0, uln))
    return {
        "ldh_elevated": (ratio > 1).astype(float),
        "log2_ldh_ratio": np.log2(ratio),
        "ldh_missing": missing.astype(float),
    }


def _category(name: str, positive: str, label: str):
    def build(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        raw = frame[name].to_numpy(dtype=object)
        missing = pd.isna(raw)
        return {label: (raw == positive).astype(float), f"{name}_missing": missing.astype(float)}

    return build


def _bridging(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    raw = frame["bridging_therapy"].to_numpy(dtype=object)
    missing = pd.isna(raw)
    out = {"bridging_any": (~missing & (raw != "none")).astype(float)}
    out.update({f"bridging_{t}": (raw == t).astype(float) for t in _BRIDGING_TYPES})
    out["bridging_therapy_missing"] = missing.astype(float)
    return out


_INFUSION_BLOCKS = (
    _numeric("age_years"),
    _numeric("ecog"),
    _numeric("stage"),
    _numeric("extranodal_sites"),
    _ldh,
    _numeric("ipi"),
    _numeric("aaipi"),
    _numeric("tmtv_ml", np.log1p),
    _category("tp53_status", "altered", "tp53_altered"),
    _numeric("prior_lines"),
    _bridging,
)
_DAY28_BLOCKS = (
    _category("ctdna_d28", "detectable", "ctdna_detectable"),
    _numeric("cart_cmax_per_ul", np.log1p),
)


def _ldh_at_progression(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    ldh = frame["ldh_at_progression_u_l"].to_numpy(dtype=float)
    uln = frame["ldh_uln_at_progression_u_l"].to_numpy(dtype=float)
    missing = np.isnan(ldh) | np.isnan(uln)
    ratio = np.where(missing, 1.0, ldh / np.where(missing, 1.0, uln))
    return {
        "log2_ldh_ratio_at_progression": np.log2(ratio),
        "ldh_at_progression_missing": missing.astype(float),
    }


def _cd19(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    raw = frame["cd19_at_progression"].to_numpy(dtype=object)
    return {
        "cd19_low_at_progression": (raw == "low").astype(float),
        "cd19_negative_at_progression": (raw == "negative").astype(float),
        "cd19_at_progression_missing": pd.isna(raw).astype(float),
    }


# At progression: the fields assessed then, the time from infusion to it, and the two
# infusion predictors that still describe the patient (age, lines of therapy before CAR-T).
_PROGRESSION_BLOCKS = (
    _numeric("progression_months", np.log1p),
    _numeric("ecog_at_progression"),
    _ldh_at_progression,
    _numeric("haemoglobin_at_progression_g_dl"),
    _numeric("extranodal_sites_at_progression"),
    _cd19,
    _numeric("age_years"),
    _numeric("prior_lines"),
)
PROGRESSION_MODEL_PREDICTORS = (*PROGRESSION_PREDICTORS, "age_years", "prior_lines")


def _blocks(landmark: str):
    require_landmark(landmark)
    if landmark == PROGRESSION:
        return _PROGRESSION_BLOCKS
    return _INFUSION_BLOCKS + (_DAY28_BLOCKS if landmark == DAY28 else ())


def encode(frame: pd.DataFrame, landmark: str = INFUSION) -> pd.DataFrame:
    """Encode validated rows for one landmark.

    Parameters
    ----------
    frame : DataFrame
        `ValidationResult.frame` (typed canonical columns).
    landmark : {"infusion", "day28"}

    Returns
    -------
    DataFrame
        float64 columns named by `feature_names(landmark)`, index kept.
    """
    columns: dict[str, np.ndarray] = {}
    for block in _blocks(landmark):
        columns.update(block(frame))
    return pd.DataFrame(columns, index=frame.index)


def feature_names(landmark: str = INFUSION) -> list[str]:
    """The encoded column names, in order, for a landmark."""
    from features.schema import COLUMNS

    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return list(encode(empty, landmark).columns)


@functools.cache
def landmark_predictors(landmark: str = INFUSION) -> tuple[str, ...]:
    """The canonical predictors a landmark's model uses (day 28 adds its own two)."""
    if landmark == PROGRESSION:
        return PROGRESSION_MODEL_PREDICTORS
    return tuple(
        f.name
        for f in FIELDS_BY_NAME.values()
        if f.role == "predictor"
        and (f.landmark == INFUSION or (landmark == DAY28 and f.landmark == DAY28))
    )


def missing_predictors(frame: pd.DataFrame, landmark: str = INFUSION) -> list[tuple[str, ...]]:
    """For each row, the predictors of the landmark that are unknown (shared tuples)."""
    names = list(landmark_predictors(landmark))
    known = frame[names].notna().to_numpy()
    # Few distinct patterns of missingness exist: build each list once and share it.
    codes = known.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    patterns, inverse = np.unique(codes, return_inverse=True)
    lists = [tuple(n for j, n in enumerate(names) if not (int(p) >> j) & 1) for p in patterns]
    return [lists[i] for i in inverse.ravel()]


def missing_in_record(record: dict, landmark: str = INFUSION) -> list[str]:
    """`missing_predictors` for one typed record (from `check_record`)."""
    return [n for n in landmark_predictors(landmark) if is_missing(record.get(n))]


def feature_sources(landmark: str = INFUSION) -> dict[str, str]:
    """Which canonical predictor each encoded column comes from (to sum contributions)."""
    sources = {}
    for name in feature_names(landmark):
        if name.startswith("bridging_"):
            sources[name] = "bridging_therapy"
        elif name in ("ldh_elevated", "log2_ldh_ratio", "ldh_missing"):
            sources[name] = "ldh_u_l"
        elif name.startswith("cd19_"):
            sources[name] = "cd19_at_progression"
        elif name in ("log2_ldh_ratio_at_progression", "ldh_at_progression_missing"):
            sources[name] = "ldh_at_progression_u_l"
        elif name.startswith("log1p_"):
            sources[name] = name[len("log1p_") :]
        elif name == "tp53_altered":
            sources[name] = "tp53_status"
        elif name == "ctdna_detectable":
            sources[name] = "ctdna_d28"
        else:
            sources[name] = name.removesuffix("_missing")
    unknown = set(sources.values()) - set(FIELDS_BY_NAME)
    if unknown:
        raise RuntimeError(f"encoded columns map to unknown predictors: {sorted(unknown)}")
    return sources


def choose_record_landmark(record: dict, with_progression: bool = True) -> str:
    """`choose_landmark` for one typed record."""
    if with_progression and any(not is_missing(record.get(n)) for n in PROGRESSION_PREDICTORS):
        return PROGRESSION
    day28_known = not (
        is_missing(record.get("ctdna_d28")) and is_missing(record.get("cart_cmax_per_ul"))
    )
    return DAY28 if day28_known else INFUSION


def choose_landmark(frame: pd.DataFrame, with_progression: bool = True) -> np.ndarray:
    """Per row: progression when a field assessed at progression (or the time to it) is
    known (and `with_progression`: the version has a progression model), else day 28 when
    a day-28 predictor is known, else infusion."""
    day28_known = (
        frame["ctdna_d28"].notna().to_numpy() | frame["cart_cmax_per_ul"].notna().to_numpy()
    )
    at_progression = (
        frame[list(PROGRESSION_PREDICTORS)].notna().to_numpy().any(axis=1) & with_progression
    )
    return np.where(at_progression, PROGRESSION, np.where(day28_known, DAY28, INFUSION))


def is_missing(v) -> bool:
    """Unknown in a typed record: None, or NaN."""
    return v is None or (isinstance(v, float) and v != v)


_REFERENCE = {
    name: float(f.reference) for name, f in FIELDS_BY_NAME.items() if f.reference is not None
}


def _record_number(record: dict, name: str, log: bool = False) -> tuple[float, float]:
    """(value or the reference when unknown, missing flag), log1p-transformed if asked."""
    v = record.get(name)
    missing = is_missing(v)
    x = _REFERENCE[name] if missing else float(v)
    return (math.log1p(x) if log else x), (1.0 if missing else 0.0)


def _record_category(record: dict, name: str, positive: str) -> tuple[float, float]:
    v = record.get(name)
    return (1.0 if v == positive else 0.0), (1.0 if is_missing(v) else 0.0)


def encode_record(record: dict, landmark: str = INFUSION) -> list[float]:
    """`encode` for one typed record (from `check_record`), without pandas: the serving path.

    Returns the values in `feature_names(landmark)` order; a test holds it equal to `encode`.
    """
    require_landmark(landmark)
    if landmark == PROGRESSION:
        return _encode_record_at_progression(record)
    out: list[float] = []
    for name in ("age_years", "ecog", "stage", "extranodal_sites"):
        out += _record_number(record, name)
    ldh, uln = record.get("ldh_u_l"), record.get("ldh_uln_u_l")
    if is_missing(ldh) or is_missing(uln):
        out += (0.0, 0.0, 1.0)  # ratio 1: not elevated, log2 ratio 0
    else:
        ratio = ldh / uln
        out += (1.0 if ratio > 1 else 0.0, math.log2(ratio), 0.0)
    out += (
        *_record_number(record, "ipi"),
        *_record_number(record, "aaipi"),
        *_record_number(record, "tmtv_ml", log=True),
        *_record_category(record, "tp53_status", "altered"),
        *_record_number(record, "prior_lines"),
    )
    bridging = record.get("bridging_therapy")
    out.append(1.0 if not is_missing(bridging) and bridging != "none" else 0.0)
    out += [1.0 if bridging == t else 0.0 for t in _BRIDGING_TYPES]
    out.append(1.0 if is_missing(bridging) else 0.0)
    if landmark == DAY28:
        out += (
            *_record_category(record, "ctdna_d28", "detectable"),
            *_record_number(record, "cart_cmax_per_ul", log=True),
        )
    return out


def _encode_record_at_progression(record: dict) -> list[float]:
    """`encode` at progression for one typed record (`feature_names(PROGRESSION)` order)."""
    out = list(_record_number(record, "progression_months", log=True))
    out += _record_number(record, "ecog_at_progression")
    ldh, uln = record.get("ldh_at_progression_u_l"), record.get("ldh_uln_at_progression_u_l")
    if is_missing(ldh) or is_missing(uln):
        out += (0.0, 1.0)
    else:
        out += (math.log2(ldh / uln), 0.0)
    out += (
        *_record_number(record, "haemoglobin_at_progression_g_dl"),
        *_record_number(record, "extranodal_sites_at_progression"),
    )
    cd19 = record.get("cd19_at_progression")
    out += (
        1.0 if cd19 == "low" else 0.0,
        1.0 if cd19 == "negative" else 0.0,
        1.0 if is_missing(cd19) else 0.0,
    )
    out += (*_record_number(record, "age_years"), *_record_number(record, "prior_lines"))
    return out
