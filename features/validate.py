"""Validation of canonical patient data: one set of rules for a whole table and for one record.

A record (JSON) is validated as a one-row table, so the REST service, batch scoring and
training cannot disagree about what is valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pandas as pd

from features.errors import MAX_PROBLEMS, FieldError, SchemaError
from features.ipi import (
    AGE_ABOVE,
    ECOG_FROM,
    EXTRANODAL_ABOVE,
    STAGE_FROM,
    aaipi_bounds,
    ipi_bounds,
    ipi_components,
)
from features.ipi import PARTS as IPI_PARTS
from features.schema import (
    COLUMNS,
    FIELDS,
    FIELDS_BY_NAME,
    LANDMARK_CHOICES,
    OS_EVENT,
    OS_MONTHS,
    OUTCOMES,
    PFS_EVENT,
    PFS_EVENT_TYPE,
    PFS_MONTHS,
    PROGRESSION_PREDICTORS,
    Field,
)
from features.text import CONTROL, CONTROL_MESSAGE, MAX_TEXT_LENGTH, escape, has_control, show

_NUMBER_TYPES = (int, float, np.integer, np.floating)
_BOOL_TYPES = (bool, np.bool_)
_NON_FINITE_WORDS = {
    "nan",
    "+nan",
    "-nan",
    "inf",
    "+inf",
    "-inf",
    "infinity",
    "+infinity",
    "-infinity",
}
NON_FINITE_MESSAGE = (
    "NaN and infinity are not allowed; leave the value empty (or null) when unknown"
)
TEXT_TYPE_MESSAGE = "must be a string or an integer"
TEXT_LENGTH_MESSAGE = f"must be at most {MAX_TEXT_LENGTH} characters"
LDH_ULN_MESSAGE = "is required when ldh_u_l is given (LDH is judged against the lab's upper limit)"


LANDMARK_MESSAGE = "must be one of " + ", ".join(f"'{c}'" for c in LANDMARK_CHOICES)


LDH_ULN_AT_PROGRESSION_MESSAGE = (
    "is required when ldh_at_progression_u_l is given (LDH at progression is read against "
    "the lab's upper limit of normal)"
)
NO_PROGRESSION_MESSAGE = (
    "is a field assessed at progression, but the outcome columns record no progression "
    "(pfs_event 0, or pfs_event_type 'death'): leave it blank, or correct the outcomes"
)
PROGRESSION_MONTHS_MESSAGE = (
    "must equal pfs_months when the PFS event is a progression (it is the time from "
    "infusion to that progression)"
)
PROGRESSION_AFTER_DEATH_MESSAGE = (
    "is after os_months: a progression cannot come after death or last follow-up"
)


def check_landmark(value) -> str:
    """The landmark a caller asked for (None or empty means 'auto').

    Raises
    ------
    SchemaError
        Naming the field 'landmark', the value and the choices.
    """
    if value is None or value == "":
        return LANDMARK_CHOICES[0]
    if not isinstance(value, str) or value not in LANDMARK_CHOICES:
        raise SchemaError([FieldError(None, "landmark", _show(value), LANDMARK_MESSAGE)])
    return value


def contradiction_message(name: str, low: int, high: int) -> str:
    expected = f"exactly {low}" if low == high else f"{low} to {high}"
    return f"contradicts its components ({IPI_PARTS[name]}), which allow {expected}"


# Numbers relative to the field's unit: within this of an integer counts as an integer.
_INTEGER_TOLERANCE = 1e-9


@dataclass
class ValidationResult:
    """What validation returns for a table.

    Attributes
    ----------
    frame : DataFrame
        The valid rows only, typed: numbers as float64 (NaN = missing), categories and
        strings as object (None = missing), IPI/aaIPI derived where their components allow,
        plus `ldh_elevated` (1.0/0.0/NaN). The index is the input's.
    errors : DataFrame
        Columns row, field, value, error; one line per problem, rows 1-based.
    n_rows : int
        Rows read. Every one of them is in `frame` or named in `errors`.
    """

    frame: pd.DataFrame
    errors: pd.DataFrame
    n_rows: int

    @property
    def n_valid(self) -> int:
        return len(self.frame)

    def error_list(self) -> list[FieldError]:
        return [
            FieldError(None if pd.isna(r) else int(r), f, v, e)
            for r, f, v, e in self.errors.itertuples(index=False)
        ]


class _Collector:
    """Gathers per-row problems as vectors (fast on millions of rows)."""

    def __init__(self, first_row: int):
        self.first_row = first_row
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray, field: str, values, message: str) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        vals = np.asarray(values, dtype=object)[idx] if values is not None else [""] * idx.size
        self.parts.append(
            pd.DataFrame(
                {
                    "row": idx + self.first_row,
                    "field": field,
                    "value": [_show(v) for v in vals],
                    "error": message,
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(
                {
                    "row": pd.Series(dtype="Int64"),
                    "field": pd.Series(dtype=object),
                    "value": pd.Series(dtype=object),
                    "error": pd.Series(dtype=object),
                }
            )
        out = pd.concat(self.parts, ignore_index=True)
        out["row"] = out["row"].astype("Int64")
        return out.sort_values(["row"], kind="stable", ignore_index=True)


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape(value.strip())
    if isinstance(value, _BOOL_TYPES):
        return f"{value} (a boolean)"
    if isinstance(value, float):
        # 12 significant digits: the same text whether the number came from JSON or a CSV.
        return escape(str(int(value)) if value.is_integer() else f"{value:.12g}")
    if isinstance(value, int | np.integer):
        return escape(str(value))
    return show(value) + f" (a {type(value).__name__})"


def _cell_text(v, nan_is_missing: bool) -> str:
    """One cell as a stripped string ("" = missing), whatever its source type."""
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, bool | np.bool_):
        return f"{v} (a boolean)"
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return "" if nan_is_missing else "nan"
        return repr(float(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{show(v)} (a {type(v).__name__})"  # bounded: a value may be nested 900 deep


def _has_float_nan(series: pd.Series, absent: pd.Series | None = None) -> bool:
    """Whether a missing cell of `series` is a float NaN (not None or pd.NA); `absent`, its
    `isna()` when already computed. Only the missing cells are looked at one by one."""
    absent = series.isna() if absent is None else absent
    return bool(absent.any()) and any(isinstance(v, float) for v in series[absent])


def _as_text(series: pd.Series, nan_is_missing: bool) -> pd.Series:
    """Every cell as a stripped string ("" = missing), whatever the source types were."""
    if pd.api.types.infer_dtype(series, skipna=False) == "string":
        return series  # all text, nothing missing: a CSV read as text (one C pass)
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("string", "empty"):
        absent = series.isna()
        # A float NaN (JSON allows the literal) is an error unless the caller trusts NaN.
        if nan_is_missing or not _has_float_nan(series, absent):
            return series.where(~absent, "") if absent.any() else series
    return pd.Series(
        [_cell_text(v, nan_is_missing) for v in series.to_numpy(dtype=object)],
        index=series.index,
        dtype=object,
    )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _fast_numbers(raw: np.ndarray, empty: np.ndarray) -> np.ndarray | None:
    """The numbers of a text column by numpy's float conversion (about twice as fast as
    pd.to_numeric), or None when it might not mean what pd.to_numeric means: float() also
    reads '1_000' and non-Latin digits, so only ASCII text without '_' qualifies, and any
    cell float() rejects sends the whole column to the slow path."""
    values = raw[~empty]
    try:
        joined = "".join(values)
        if not joined.isascii() or "_" in joined:
            return None
        # Each distinct text converted once: hashing a string costs less than parsing it,
        # so this is faster even when every cell differs (3-5x on codes, 1.1-1.5x on times).
        codes, distinct = pd.factorize(values)
        out = np.full(len(raw), np.nan)
        out[~empty] = distinct.astype(np.float64)[codes]
    except (TypeError, ValueError):
        return None
    return out


def _control_cells(series: pd.Series) -> np.ndarray | None:
    """Cells holding a control character inside their text (white space around a value is
    not looked at), or None when there are none (one search over the joined column)."""
    if series.dtype != object:
        return None
    values = series.to_numpy(dtype=object)
    try:
        if CONTROL.search("".join(values)) is None:
            return None
    except TypeError:  # not all strings (a frame built in code, a JSON record)
        pass
    mask = np.array([isinstance(v, str) and has_control(v.strip()) for v in values], bool)
    return mask if mask.any() else None


def _bad_text_type(series: pd.Series, nan_is_missing: bool) -> np.ndarray | None:
    """Cells of a text field that are neither text nor an integer (a list, an object, a
    boolean, a float NaN unless the caller trusts NaN as missing), or None when every cell
    is fine."""
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("string", "empty", "integer") and (nan_is_missing or not _has_float_nan(series)):
        return None
    mask = np.array(
        [
            not (
                v is None
                or v is pd.NA
                or isinstance(v, str)
                or (nan_is_missing and isinstance(v, float) and v != v)
                or (isinstance(v, int | np.integer) and not isinstance(v, _BOOL_TYPES))
            )
            for v in series.to_numpy(dtype=object)
        ],
        bool,
    )
    return mask if mask.any() else None


def _parse_field(
    field: Field, series: pd.Series, nan_is_missing: bool, out: _Collector
) -> tuple[np.ndarray, np.ndarray]:
    """Parse one column; returns (values, bad-row mask). A cell with a control character is
    reported once, as such (not also as, say, not a number)."""
    rejected = None
    for mask, message in (
        (_control_cells(series), CONTROL_MESSAGE),
        (
            _bad_text_type(series, nan_is_missing) if field.kind == "string" else None,
            TEXT_TYPE_MESSAGE,
        ),
    ):
        if mask is None:
            continue
        if rejected is not None:
            mask = mask & ~rejected
        out.add(mask, field.name, series.to_numpy(dtype=object), message)
        rejected = mask if rejected is None else rejected | mask
    if rejected is None:
        return _parse_cells(field, series, nan_is_missing, out)
    values, bad = _parse_cells(field, series.where(~rejected, None), nan_is_missing, out)
    return values, bad | rejected


def _parse_cells(
    field: Field, series: pd.Series, nan_is_missing: bool, out: _Collector
) -> tuple[np.ndarray, np.ndarray]:
    """Parse one column whose cells are free of control characters; see _parse_field.

    Cells are read as if stripped of surrounding white space; only the cells that fail the
    fast vectorised checks are stripped and looked at again, so clean columns stay fast.
    """
    if field.kind in ("number", "integer") and _is_numeric(series):
        # Numeric columns (frames built in code) skip the text round trip.
        numbers = series.to_numpy(dtype=float)
        nan = np.isnan(numbers)
        missing = nan & nan_is_missing
        non_finite = np.isinf(numbers) | (nan & (not nan_is_missing))
        not_number = np.zeros(len(numbers), bool)
        raw = np.where(nan, "nan", numbers.astype(object))
    else:
        text = _as_text(series, nan_is_missing)
        raw = text.to_numpy(dtype=object)
        empty = raw == ""  # numpy's comparison: a third of the time of the Series
        if field.kind == "string":
            stripped = text.str.strip()
            missing = (stripped == "").to_numpy()
            too_long = (stripped.str.len() > MAX_TEXT_LENGTH).to_numpy()
            out.add(too_long, field.name, raw, TEXT_LENGTH_MESSAGE)
            return np.where(missing | too_long, None, stripped.to_numpy(dtype=object)), too_long
        if field.kind == "category":
            values = np.where(empty, None, raw)
            known = text.isin(field.categories).to_numpy()
            missing = empty.copy()
            retry = np.flatnonzero(~empty & ~known)
            if retry.size:  # white space around a code, or blank-only cells
                again = text.iloc[retry].str.strip()
                now_known = again.isin(field.categories).to_numpy()
                now_empty = (again == "").to_numpy()
                values[retry] = np.where(now_known, again.to_numpy(dtype=object), None)
                known[retry] = now_known
                missing[retry] = now_empty
            bad = ~missing & ~known
            out.add(bad, field.name, raw, f"must be {field.describe_range()}")
            return np.where(missing | bad, None, values), bad
        numbers = _fast_numbers(raw, empty)
        if numbers is None:
            numbers = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(float)
        missing = empty.copy()
        non_finite = np.isinf(numbers)
        not_number = ~empty & np.isnan(numbers)
        retry = np.flatnonzero(not_number)
        if retry.size:  # blank-only cells, NaN/inf words, or simply not numbers
            again = text.iloc[retry].str.strip()
            now_empty = (again == "").to_numpy()
            word = again.str.lower().isin(_NON_FINITE_WORDS).to_numpy()
            missing[retry] = now_empty
            non_finite[retry] = word
            not_number[retry] = ~now_empty & ~word
        non_finite &= ~missing
        infinite = np.flatnonzero(non_finite)
        if infinite.size:  # '1e999' or a 400-digit integer is a number out of range, not inf
            word = text.iloc[infinite].str.strip().str.lower().isin(_NON_FINITE_WORDS)
            non_finite[infinite] = word.to_numpy()
            not_number[infinite] = ~word.to_numpy()
    out.add(non_finite, field.name, raw, NON_FINITE_MESSAGE)
    out.add(not_number, field.name, raw, f"must be {field.describe_range()}")
    bad = non_finite | not_number
    ok = ~missing & ~bad
    if field.kind == "integer":
        with np.errstate(invalid="ignore"):
            frac = np.abs(numbers - np.round(numbers))
        not_int = ok & (frac > _INTEGER_TOLERANCE)
        out.add(not_int, field.name, raw, f"must be {field.describe_range()}")
        bad |= not_int
        ok &= ~not_int
        numbers = np.where(ok, np.round(numbers), numbers)  # 2.0000000001 is 2
    with np.errstate(invalid="ignore"):
        out_of_range = ok & (
            (numbers < field.minimum if field.minimum is not None else False)
            | (numbers > field.maximum if field.maximum is not None else False)
        )
    out.add(out_of_range, field.name, raw, f"must be {field.describe_range()}")
    bad |= out_of_range
    return np.where(missing | bad, np.nan, numbers), bad


def _check_columns(columns: list[str], allow_outcomes: bool) -> None:
    problems = []
    seen: set[str] = set()
    for name in columns:
        if len(problems) > MAX_PROBLEMS:
            break
        shown = escape(name)  # a name may carry anything a client sent
        if name in seen:
            problems.append(FieldError(None, shown, "", "column appears more than once"))
        seen.add(name)
        if name not in FIELDS_BY_NAME:
            problems.append(
                FieldError(
                    None,
                    shown,
                    "",
                    "not a canonical field; the canonical fields are " + ", ".join(COLUMNS),
                )
            )
        elif not allow_outcomes and name in OUTCOMES:
            problems.append(FieldError(None, shown, "", "outcome columns are not accepted here"))
    if len(problems) > MAX_PROBLEMS:
        problems[MAX_PROBLEMS:] = [
            FieldError(
                None,
                "(more)",
                "",
                f"further problems are not listed (the first {MAX_PROBLEMS} are)",
            )
        ]
    if problems:
        raise SchemaError(problems)


def validate_frame(
    raw: pd.DataFrame,
    *,
    first_row: int = 1,
    allow_outcomes: bool = True,
    require_outcomes: bool = False,
    nan_is_missing: bool = False,
) -> ValidationResult:
    """Validate a table of canonical columns.

    Parameters
    ----------
    raw : DataFrame
        Cells as read (strings from a CSV, or Python values). Columns may be any subset of the
        canonical ones; absent predictor columns are treated as unknown for every row.
    first_row : int, default 1
        Row number of the first data row (for chunked reading).
    allow_outcomes : bool, default True
        Whether outcome columns may be present (False for scoring requests).
    require_outcomes : bool, default False
        Whether pfs_months and pfs_event must be present and known (training cohorts).
    nan_is_missing : bool, default False
        Treat float NaN as missing (only for frames made by trusted code, never for user input).

    Returns
    -------
    ValidationResult

    Raises
    ------
    SchemaError
        For problems with the table as a whole: unknown, duplicate or forbidden columns, or
        missing required outcome columns. Row-level problems are returned, not raised.
    """
    columns = [str(c) for c in raw.columns]
    _check_columns(columns, allow_outcomes)
    if require_outcomes:
        absent = [c for c in (PFS_MONTHS, PFS_EVENT) if c not in columns]
        if absent:
            raise SchemaError(
                [FieldError(None, c, "", "required outcome column is missing") for c in absent]
            )
    n = len(raw)
    out = _Collector(first_row)
    bad = np.zeros(n, bool)
    typed: dict[str, np.ndarray] = {}
    blank: dict[str, np.ndarray] = {}
    for field in FIELDS:
        if field.name in raw.columns:
            typed[field.name], field_bad = _parse_field(field, raw[field.name], nan_is_missing, out)
            bad |= field_bad
            values = typed[field.name]
            # Blank = unknown as given (a rejected value is not blank: it is reported once).
            blank[field.name] = (
                pd.isna(values) if values.dtype == object else np.isnan(values)
            ) & ~field_bad
        else:
            typed[field.name] = (
                np.full(n, np.nan)
                if field.kind in ("number", "integer")
                else np.full(n, None, dtype=object)
            )
    frame = pd.DataFrame(typed, index=raw.index)
    everything = np.ones(n, bool)
    bad |= _check_cross_field(
        frame, lambda name: blank.get(name, everything), out, require_outcomes
    )
    _derive(frame)
    return ValidationResult(frame=frame.loc[~bad], errors=out.frame(), n_rows=n)


def _check_cross_field(
    frame: pd.DataFrame, was_blank, out: _Collector, require_outcomes: bool
) -> np.ndarray:
    """Rules that involve more than one field; returns the mask of rows they reject."""
    bad = np.zeros(len(frame), bool)
    num = lambda name: frame[name].to_numpy(dtype=float)  # noqa: E731
    ldh, uln = num("ldh_u_l"), num("ldh_uln_u_l")
    no_uln = ~np.isnan(ldh) & np.isnan(uln) & was_blank("ldh_uln_u_l")
    out.add(no_uln, "ldh_uln_u_l", None, LDH_ULN_MESSAGE)
    bad |= no_uln
    ldh_p, uln_p = num("ldh_at_progression_u_l"), num("ldh_uln_at_progression_u_l")
    no_uln_p = ~np.isnan(ldh_p) & np.isnan(uln_p) & was_blank("ldh_uln_at_progression_u_l")
    out.add(no_uln_p, "ldh_uln_at_progression_u_l", None, LDH_ULN_AT_PROGRESSION_MESSAGE)
    bad |= no_uln_p

    components = ipi_components(frame)
    for name, (low, high) in (("ipi", ipi_bounds(components)), ("aaipi", aaipi_bounds(components))):
        given = num(name)
        clash = ~np.isnan(given) & ((given < low) | (given > high))
        # One message per distinct allowed range keeps the error file readable.
        for lo, hi in sorted({(int(a), int(b)) for a, b in zip(low[clash], high[clash])}):
            these = clash & (low == lo) & (high == hi)
            out.add(these, name, given, contradiction_message(name, lo, hi))
        bad |= clash

    pfs_t, pfs_e = num(PFS_MONTHS), num(PFS_EVENT)
    os_t, os_e = num(OS_MONTHS), num(OS_EVENT)
    pairs = [(OS_MONTHS, OS_EVENT, os_t, os_e)]
    if require_outcomes:
        for name, values in ((PFS_MONTHS, pfs_t), (PFS_EVENT, pfs_e)):
            absent = np.isnan(values) & was_blank(name)
            out.add(absent, name, None, "is required in a training cohort")
            bad |= absent
    else:
        pairs.append((PFS_MONTHS, PFS_EVENT, pfs_t, pfs_e))
    for t_name, e_name, t, e in pairs:
        for have, lack, lack_name in ((t, e, e_name), (e, t, t_name)):
            orphan = ~np.isnan(have) & np.isnan(lack) & was_blank(lack_name)
            out.add(orphan, lack_name, None, f"is required when {t_name}/{e_name} is given")
            bad |= orphan
    with np.errstate(invalid="ignore"):
        os_before_pfs = os_t < pfs_t - 1e-9
        out.add(
            os_before_pfs,
            OS_MONTHS,
            os_t,
            "must not be shorter than pfs_months (death ends progression-free survival)",
        )
        death_without_pfs_event = (os_e == 1) & (pfs_e == 0) & (np.abs(os_t - pfs_t) < 1e-9)
    out.add(
        death_without_pfs_event,
        PFS_EVENT,
        pfs_e,
        "must be 1 when the patient died at pfs_months (death is a PFS event)",
    )
    bad |= os_before_pfs | death_without_pfs_event
    kind = frame[PFS_EVENT_TYPE].to_numpy(dtype=object)
    typed = pd.notna(kind)
    with np.errstate(invalid="ignore"):
        type_without_event = typed & (pfs_e != 1)
        # Death without progression ends overall survival at the same time.
        death_not_death = (
            (kind == "death") & ~np.isnan(os_e) & ((os_e != 1) | (np.abs(os_t - pfs_t) > 1e-6))
        )
    out.add(
        type_without_event,
        PFS_EVENT_TYPE,
        kind,
        "must be blank unless pfs_event is 1 (a censored patient has no event type)",
    )
    out.add(
        death_not_death & ~type_without_event,
        PFS_EVENT_TYPE,
        kind,
        "says death without progression, but os_event/os_months do not record a death at "
        "pfs_months",
    )
    bad |= type_without_event | death_not_death
    bad |= _check_progression_fields(frame, out)
    return bad


def _check_progression_fields(frame: pd.DataFrame, out: _Collector) -> np.ndarray:
    """Fields at progression contradicting the outcomes: given for a patient whose PFS
    columns record no progression, a time to progression other than pfs_months, or a
    progression after death or last follow-up. `_progression_problems` is the same rule for
    one record (a test holds the two equal)."""
    bad = np.zeros(len(frame), bool)
    num = lambda name: frame[name].to_numpy(dtype=float)  # noqa: E731
    pfs_t, pfs_e, os_t = num(PFS_MONTHS), num(PFS_EVENT), num(OS_MONTHS)
    kind = frame[PFS_EVENT_TYPE].to_numpy(dtype=object)
    no_progression = (pfs_e == 0) | (kind == "death")
    for name in PROGRESSION_PREDICTORS:
        given = frame[name].notna().to_numpy()
        clash = given & no_progression
        out.add(clash, name, frame[name].to_numpy(), NO_PROGRESSION_MESSAGE)
        bad |= clash
    months = num("progression_months")
    with np.errstate(invalid="ignore"):
        other = (kind == "progression") & (np.abs(months - pfs_t) > 1e-6) & ~bad
        after = ~bad & ~other & (months > os_t + 1e-9)
    out.add(other, "progression_months", months, PROGRESSION_MONTHS_MESSAGE)
    out.add(after, "progression_months", months, PROGRESSION_AFTER_DEATH_MESSAGE)
    return bad | other | after


def _derive(frame: pd.DataFrame) -> None:
    """Add ldh_elevated, fill IPI/aaIPI where every component is known, and the time to
    progression from pfs_months where the PFS event is a progression."""
    progressed = (frame[PFS_EVENT].to_numpy(dtype=float) == 1) & (
        frame[PFS_EVENT_TYPE].to_numpy(dtype=object) == "progression"
    )
    frame["progression_months"] = np.where(
        progressed & frame["progression_months"].isna().to_numpy(),
        frame[PFS_MONTHS].to_numpy(dtype=float),
        frame["progression_months"].to_numpy(float),
    )
    components = ipi_components(frame)
    frame["ldh_elevated"] = components["ldh"]
    for name, (low, high) in (("ipi", ipi_bounds(components)), ("aaipi", aaipi_bounds(components))):
        given = frame[name].to_numpy(dtype=float)
        derivable = np.isnan(given) & (low == high)
        frame[name] = np.where(derivable, low, given)


def _parse_scalar(field: Field, v) -> tuple[object, str | None, str]:
    """One value by the rules of `_parse_field`: (typed value, error or None, shown value)."""
    numeric = field.kind in ("number", "integer")
    if numeric and isinstance(v, _NUMBER_TYPES) and not isinstance(v, _BOOL_TYPES):
        try:
            x = float(v)
        except OverflowError:  # an integer beyond float range: a number, out of range
            return np.nan, f"must be {field.describe_range()}", _show(_cell_text(v, False))
        if not math.isfinite(x):
            return np.nan, NON_FINITE_MESSAGE, _show(_cell_text(v, nan_is_missing=False))
        shown = ""  # only needed for an error; computed then
    else:
        if field.kind == "string" and not (
            isinstance(v, str) or isinstance(v, int | np.integer) and not isinstance(v, _BOOL_TYPES)
        ):
            return None, TEXT_TYPE_MESSAGE, _show(v)
        if isinstance(v, str) and has_control(v.strip()):
            return (np.nan if numeric else None), CONTROL_MESSAGE, _show(v)
        text = _cell_text(v, nan_is_missing=False)
        if text == "":
            return (np.nan if numeric else None), None, ""
        if field.kind == "string":
            if len(text) > MAX_TEXT_LENGTH:
                return None, TEXT_LENGTH_MESSAGE, _show(text)
            return text, None, text
        if field.kind == "category":
            if text in field.categories:
                return text, None, text
            return None, f"must be {field.describe_range()}", _show(text)
        shown = _show(text)
        if text.lower() in _NON_FINITE_WORDS:
            return np.nan, NON_FINITE_MESSAGE, shown
        x = float(pd.to_numeric(pd.Series([text]), errors="coerce").iloc[0])
        if np.isnan(x) or np.isinf(x):  # the words are handled above: '1e999' is out of range
            return np.nan, f"must be {field.describe_range()}", shown
    if field.kind == "integer":
        if abs(x - round(x)) > _INTEGER_TOLERANCE:
            return np.nan, f"must be {field.describe_range()}", shown or _show(_cell_text(v, False))
        x = float(round(x))  # 2.0000000001 is 2, as in the table rules
    if (field.minimum is not None and x < field.minimum) or (
        field.maximum is not None and x > field.maximum
    ):
        return np.nan, f"must be {field.describe_range()}", shown or _show(_cell_text(v, False))
    return x, None, shown


def _scalar_bounds(values: list[float]) -> tuple[int, int]:
    known = [x for x in values if x == x]
    low = int(sum(known))
    return low, low + len(values) - len(known)


# check_record's plan: per field, its kind and bounds (+-inf when open) and its missing value.
_NUMERIC, _INTEGER, _CATEGORY, _OTHER = "number", "integer", "category", "other"
_PLAN = tuple(
    (
        f.name,
        f,
        {"number": _NUMERIC, "integer": _INTEGER, "category": _CATEGORY}.get(f.kind, _OTHER),
        -math.inf if f.minimum is None else f.minimum,
        math.inf if f.maximum is None else f.maximum,
        np.nan if f.kind in ("number", "integer") else None,
    )
    for f in FIELDS
)
_ACCEPTED = {True: frozenset(COLUMNS), False: frozenset(c for c in COLUMNS if c not in OUTCOMES)}
_EXACT = 2**53  # integers a float holds exactly


def check_record(record: dict, *, allow_outcomes: bool = False) -> dict:
    """Validate one patient (a JSON object): the table rules, without pandas (fast path).

    Returns
    -------
    dict
        Typed values for every canonical field (NaN / None when unknown) plus ldh_elevated,
        with IPI and aaIPI derived where their components allow.

    Raises
    ------
    SchemaError
        Listing every problem, each naming its field (row numbers are left out).
    """
    if not isinstance(record, dict):
        raise SchemaError([FieldError(None, "patient", "", "must be a JSON object")])
    problems: list[FieldError] = []
    if not record.keys() <= _ACCEPTED[allow_outcomes]:
        try:  # the unknown ones, and no more of them than are listed
            _check_columns(
                [
                    str(k)
                    for k in islice(
                        (k for k in record if k not in _ACCEPTED[allow_outcomes]), MAX_PROBLEMS + 1
                    )
                ],
                allow_outcomes,
            )
        except SchemaError as exc:  # report unknown fields together with every other problem
            problems += exc.errors
    typed: dict = {}
    get = record.get
    for name, field, kind, low, high, absent in _PLAN:
        v = get(name)
        if v is None:
            typed[name] = absent
            continue
        # The common JSON cases inline; anything else (and every error) by _parse_scalar.
        t = type(v)
        if kind is _NUMERIC and (t is float or t is int and -_EXACT < v < _EXACT):
            x = float(v)
            if low <= x <= high:  # False for NaN and the infinities
                typed[name] = x
                continue
        elif kind is _INTEGER and (t is int and -_EXACT < v < _EXACT or t is float):
            x = float(v)
            r = round(x) if x - x == 0.0 else x + 1.0  # x - x is NaN for NaN and inf
            if abs(x - r) <= _INTEGER_TOLERANCE and low <= r <= high:
                typed[name] = float(r)
                continue
        elif kind is _CATEGORY and t is str and v in field.categories:
            typed[name] = v
            continue
        value, error, shown = _parse_scalar(field, v)
        if error:
            problems.append(FieldError(None, name, shown, error))
        typed[name] = value
    ldh, uln = typed["ldh_u_l"], typed["ldh_uln_u_l"]
    if ldh == ldh and uln != uln and _cell_text(get("ldh_uln_u_l"), False) == "":
        problems.append(FieldError(None, "ldh_uln_u_l", "", LDH_ULN_MESSAGE))
    ldh_elevated = np.nan if ldh != ldh or uln != uln else float(ldh > uln)
    stage, ecog, age, sites = (
        typed["stage"],
        typed["ecog"],
        typed["age_years"],
        typed["extranodal_sites"],
    )
    stage_ecog_ldh = [
        np.nan if stage != stage else float(stage >= STAGE_FROM),
        np.nan if ecog != ecog else float(ecog >= ECOG_FROM),
        ldh_elevated,
    ]
    bounds = {
        "ipi": _scalar_bounds(
            [
                np.nan if age != age else float(age > AGE_ABOVE),
                np.nan if sites != sites else float(sites > EXTRANODAL_ABOVE),
                *stage_ecog_ldh,
            ]
        ),
        "aaipi": _scalar_bounds(stage_ecog_ldh),
    }
    nan = math.isnan
    for name, (low, high) in bounds.items():
        given = typed[name]
        if not nan(given) and not low <= given <= high:
            problems.append(
                FieldError(None, name, _show(given), contradiction_message(name, low, high))
            )
    ldh_p, uln_p = typed["ldh_at_progression_u_l"], typed["ldh_uln_at_progression_u_l"]
    if (
        ldh_p == ldh_p
        and uln_p != uln_p
        and _cell_text(get("ldh_uln_at_progression_u_l"), False) == ""
    ):
        problems.append(
            FieldError(None, "ldh_uln_at_progression_u_l", "", LDH_ULN_AT_PROGRESSION_MESSAGE)
        )
    if allow_outcomes:
        problems += _check_outcomes_scalar(typed, record)
        problems += _progression_problems(typed)
    if problems:
        raise SchemaError(problems)
    typed["ldh_elevated"] = ldh_elevated
    for name, (low, high) in bounds.items():
        if nan(typed[name]) and low == high:
            typed[name] = float(low)
    return typed


def _check_outcomes_scalar(typed: dict, record: dict) -> list[FieldError]:
    problems = []
    nan = math.isnan
    for t_name, e_name in ((PFS_MONTHS, PFS_EVENT), (OS_MONTHS, OS_EVENT)):
        for have, lack in ((t_name, e_name), (e_name, t_name)):
            if (
                not nan(typed[have])
                and nan(typed[lack])
                and _cell_text(record.get(lack), True) == ""
            ):
                problems.append(
                    FieldError(None, lack, "", f"is required when {t_name}/{e_name} is given")
                )
    pfs_t, pfs_e, os_t, os_e = (typed[k] for k in (PFS_MONTHS, PFS_EVENT, OS_MONTHS, OS_EVENT))
    if os_t < pfs_t - 1e-9:
        problems.append(
            FieldError(
                None,
                OS_MONTHS,
                _show(os_t),
                "must not be shorter than pfs_months (death ends progression-free survival)",
            )
        )
    if os_e == 1 and pfs_e == 0 and abs(os_t - pfs_t) < 1e-9:
        problems.append(
            FieldError(
                None,
                PFS_EVENT,
                _show(pfs_e),
                "must be 1 when the patient died at pfs_months (death is a PFS event)",
            )
        )
    return problems


def _progression_problems(typed: dict) -> list[FieldError]:
    """`_check_progression_fields` for one typed record; fills progression_months from
    pfs_months when the PFS event is a progression and it was blank."""
    nan = math.isnan
    kind, pfs_t, pfs_e = typed[PFS_EVENT_TYPE], typed[PFS_MONTHS], typed[PFS_EVENT]
    if pfs_e == 0 or kind == "death":
        return [
            FieldError(None, n, _show(typed[n]), NO_PROGRESSION_MESSAGE)
            for n in PROGRESSION_PREDICTORS
            if not (typed[n] is None or (isinstance(typed[n], float) and nan(typed[n])))
        ]
    months = typed["progression_months"]
    if pfs_e == 1 and kind == "progression":
        if nan(months):
            typed["progression_months"] = months = pfs_t
        elif abs(months - pfs_t) > 1e-6:
            return [
                FieldError(None, "progression_months", _show(months), PROGRESSION_MONTHS_MESSAGE)
            ]
    if months > typed[OS_MONTHS] + 1e-9:
        return [
            FieldError(None, "progression_months", _show(months), PROGRESSION_AFTER_DEATH_MESSAGE)
        ]
    return []


def validate_record(record: dict, *, allow_outcomes: bool = False) -> pd.Series:
    """Validate one patient (a JSON object); the typed record as a Series (see check_record)."""
    return pd.Series(check_record(record, allow_outcomes=allow_outcomes), dtype=object)
