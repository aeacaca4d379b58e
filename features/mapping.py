"""Registry exports in: a declarative mapping (YAML) from a registry's own column names, codes,
units and dates to the canonical columns. Owns the mapping file's validation and its
application; the canonical rows it writes then go through `features.validate` like any other.

A mapping has up to seven sections (only `columns` or `dates` is required):

    columns: {canonical field: source column}
    values:  {canonical field: {source code: canonical value}}   # exhaustive per field
    units:   {canonical field: unit of the source column}         # converted, see UNITS
    missing: [source tokens meaning unknown, e.g. "NA", "n/a"]
    dates:   {format: "%d/%m/%Y", birth:, infusion:, progression:, death:, last_follow_up:}
    shared_columns: [source columns allowed to feed more than one canonical field]

Each export column feeds one canonical field (`{age_years: ECOG, ecog: ECOG}` is a mistake,
not a shortcut) unless `shared_columns` lists it; a key given twice is an error, not the last
one winning.
    file:    {delimiter: ";", decimal: ",", thousands:, encoding: cp1252, sheet:,
              value_labels: true}                   # how the file is read, features.readers
    confirm: [guesses still to be checked]   # written by `mapping draft`; refused unless empty
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.readers import FileFormat, parse_file_section, typed_dates
from features.schema import (
    COLUMNS,
    FIELDS_BY_NAME,
    OS_EVENT,
    OS_MONTHS,
    OUTCOMES,
    PFS_EVENT,
    PFS_EVENT_TYPE,
    PFS_MONTHS,
)
from features.text import escape, show
from features.validate import validate_frame

# Factors to the canonical unit. Sources: 1 U = 1 umol/min and 1 kat = 1 mol/s, so
# 1 ukat/L = 60 U/L exactly; 1 cm3 = 1 mL; 1 uL = 1e-3 mL. Haemoglobin: 1 g/dL = 10 g/L,
# and mmol/L counts the haem-bearing monomer (16,114.5 g/mol; IFCC/ICSH convention used by
# Dutch and Scandinavian labs): 1 mmol/L = 1.61145 g/dL.
_LDH_UNITS = {"U/L": 1.0, "IU/L": 1.0, "ukat/L": 60.0, "µkat/L": 60.0}
UNITS: dict[str, dict[str, float]] = {
    "ldh_u_l": {**_LDH_UNITS, "xULN": 1.0},
    "ldh_uln_u_l": dict(_LDH_UNITS),
    "ldh_at_progression_u_l": dict(_LDH_UNITS),
    "ldh_uln_at_progression_u_l": dict(_LDH_UNITS),
    "haemoglobin_at_progression_g_dl": {"g/dL": 1.0, "g/L": 0.1, "mmol/L": 1.61145},
    "tmtv_ml": {"mL": 1.0, "cm3": 1.0, "cm³": 1.0, "L": 1000.0},
    "cart_cmax_per_ul": {"cells/uL": 1.0, "cells/µL": 1.0, "cells/mL": 1e-3},
    "age_years": {"years": 1.0, "months": 1 / 12},
}
# Units that measure something else: an error that names both, never a conversion.
NOT_CONVERTIBLE: dict[str, dict[str, str]] = {
    "cart_cmax_per_ul": {
        "copies/ug DNA": "vector copies per ug of genomic DNA (qPCR) are not CAR-T cells per "
        "uL of blood (flow cytometry); no factor relates them",
        "copies/µg DNA": "vector copies per ug of genomic DNA (qPCR) are not CAR-T cells per "
        "uL of blood (flow cytometry); no factor relates them",
    },
}
# LDH as a multiple of the upper limit of normal: only the ratio enters the models, so without
# a mapped ULN column the canonical ULN is written as this nominal value and LDH as ratio x it.
NOMINAL_ULN_U_L = 250.0
# Date roles a mapping declares (a vocabulary of its own: "infusion" here is a date, not the
# landmark of the same name).
INFUSION_DATE = "infusion"
DATE_ROLES = ("birth", INFUSION_DATE, "progression", "death", "last_follow_up")
DAYS_PER_MONTH = 365.25 / 12
_SECTIONS = ("columns", "values", "units", "missing", "dates", "shared_columns", "file", "confirm")
# A mapping file is a few dozen entries: more nodes than this, counting each alias as many
# times as it is used, is a file built to explode when expanded (nine levels of nine aliases
# are 380 bytes and 387 million nodes).
MAX_YAML_NODES = 10_000
_DERIVED_FROM_DATES = (PFS_MONTHS, PFS_EVENT, PFS_EVENT_TYPE, OS_MONTHS, OS_EVENT)


class MappingError(ValueError):
    """A mapping file that cannot be used; `.problems` lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass
class Mapping:
    """A validated mapping from one registry's export to the canonical columns."""

    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    dates: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    source: str = "mapping"
    file: FileFormat = field(default_factory=FileFormat)
    confirm: tuple[str, ...] = ()

    @property
    def derives_outcomes(self) -> bool:
        return (
            INFUSION_DATE in self.dates
            and len(self.dates) > 1
            and any(r in self.dates for r in ("progression", "death", "last_follow_up"))
        )

    def source_columns(self) -> list[str]:
        return list(self.columns.values()) + list(self.dates.values())

    def check_header(self, header: list[str]) -> None:
        """Every source column the mapping names must be in the export's header."""
        absent = [
            f"{where} {show(name)} is not a column of the export"
            for where, name in [(f"columns.{c}:", s) for c, s in self.columns.items()]
            + [(f"dates.{r}:", s) for r, s in self.dates.items()]
            if name not in header
        ]
        if absent:
            raise MappingError(
                self.source,
                absent + [f"the export's columns are: {escape(', '.join(header), 2000)}"],
            )


def _strict_loader():
    """PyYAML's safe loader, refusing duplicate keys and alias bombs."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def compose_document(self):
            node = super().compose_document()
            _check_expanded_size(node, yaml)
            return node

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)
                seen = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: the base class says so
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"the key {show(key)} is given twice (line "
                            f"{key_node.start_mark.line + 1}); keep one",
                            key_node.start_mark,
                        )
            return super().construct_mapping(node, deep)

    return StrictLoader


def _check_expanded_size(node, yaml) -> None:
    """Refuse a document whose nodes, aliases expanded, exceed MAX_YAML_NODES (counted on the
    composed graph, each shared node once: cheap however large the expansion)."""
    sizes: dict[int, int] = {}
    stack = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        if id(current) in sizes:
            continue
        if isinstance(current, yaml.ScalarNode):
            sizes[id(current)] = 1
            continue
        children = (
            [n for pair in current.value for n in pair]
            if isinstance(current, yaml.MappingNode)
            else list(current.value)
        )
        if not children_done:
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(current)] = min(MAX_YAML_NODES + 1, 1 + sum(sizes.get(id(c), 1) for c in children))
        if sizes[id(current)] > MAX_YAML_NODES:
            raise yaml.YAMLError(
                f"more than {MAX_YAML_NODES} entries once its aliases are "
                "expanded; a mapping file needs a few dozen"
            )


def load_mapping(path: str | Path, allow_unconfirmed: bool = False) -> Mapping:
    """Read and validate a mapping file; every problem is listed in one `MappingError`.
    A mapping whose `confirm` list still holds a guess is refused unless `allow_unconfirmed`
    (`mapping check` reads drafts)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(str(path), ["file not found"]) from None
    except IsADirectoryError:
        raise MappingError(str(path), ["is a directory, not a mapping file"]) from None
    except UnicodeDecodeError as exc:
        raise MappingError(
            str(path), [f"is not UTF-8 text ({exc.reason} at byte {exc.start})"]
        ) from None
    except OSError as exc:
        raise MappingError(
            str(path), [f"cannot be read ({exc.strerror or type(exc).__name__})"]
        ) from None
    return loads_mapping(text, source=str(path), allow_unconfirmed=allow_unconfirmed)


def loads_mapping(text: str, source: str = "mapping", allow_unconfirmed: bool = False) -> Mapping:
    """Validate a mapping given as the text of a mapping file (a stored mapping's bytes)."""
    import yaml

    try:
        raw = yaml.load(text, Loader=_strict_loader())  # noqa: S506
    except yaml.YAMLError as exc:
        # PyYAML's message spans lines (it quotes the place): one line here.
        one_line = " ".join(str(exc).split())
        raise MappingError(source, [f"not valid YAML ({escape(one_line, 500)})"]) from None
    except RecursionError:
        raise MappingError(source, ["nested too deeply to be a mapping file"]) from None
    return parse_mapping(raw, source=source, allow_unconfirmed=allow_unconfirmed)


def parse_mapping(raw, source: str = "mapping", allow_unconfirmed: bool = False) -> Mapping:
    """Validate a mapping given as plain data (the parsed YAML)."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise MappingError(source, ["must be a mapping with sections " + ", ".join(_SECTIONS)])
    problems += [
        f"unknown section {show(k)} (known: {', '.join(_SECTIONS)})"
        for k in raw
        if k not in _SECTIONS
    ]
    columns = _section(raw, "columns", dict, problems)
    values = _section(raw, "values", dict, problems)
    units = _section(raw, "units", dict, problems)
    missing = _section(raw, "missing", list, problems)
    dates = dict(_section(raw, "dates", dict, problems))
    shared = _section(raw, "shared_columns", list, problems)
    date_format = dates.pop("format", None)
    if not columns and not dates:
        problems.append("maps nothing: give `columns` (and/or `dates`)")
    for name, src in columns.items():
        if name not in COLUMNS:
            problems.append(f"columns: unknown canonical field {show(name)}")
        elif not isinstance(src, str) or not src:
            problems.append(f"columns.{name}: the source column must be a name, got {show(src)}")
    problems += _shared_problems(columns, dates, shared)
    for name, codes in values.items():
        if name not in columns:
            problems.append(f"values.{show(name)}: the field is not in `columns`")
            continue
        if not isinstance(codes, dict):
            problems.append(f"values.{name}: must map source codes to canonical values")
            continue
        for code, value in codes.items():
            reason = _invalid_value(name, value)
            if reason:
                problems.append(f"values.{name}: code {show(code)} maps to {show(value)}, {reason}")
    for name, unit in units.items():
        problems += (
            _unit_problems(show(name), unit, columns)
            if not isinstance(name, str)
            else _unit_problems(name, unit, columns)
        )
    if not all(isinstance(t, (str, int, float)) for t in missing):
        problems.append('missing: must be a list of source tokens, e.g. ["NA", "n/a"]')
    problems += _date_problems(dates, date_format, columns)
    file_format, file_problems = parse_file_section(raw.get("file"))
    problems += file_problems
    confirm = _section(raw, "confirm", list, problems)
    if confirm and not allow_unconfirmed:
        problems.append(
            f"confirm: {len(confirm)} guess{'es' if len(confirm) > 1 else ''} of "
            "the draft not yet confirmed (check each against the export and "
            "delete it from `confirm`): "
            + " | ".join(map(str, confirm[:5]))
            + (f" | ... ({len(confirm) - 5} more)" if len(confirm) > 5 else "")
        )
    if problems:
        raise MappingError(source, problems)
    return Mapping(
        {k: str(v) for k, v in columns.items()},
        {
            k: {str(c): "" if v is None else str(v) for c, v in codes.items()}
            for k, codes in values.items()
        },
        {k: str(v) for k, v in units.items()},
        tuple(str(t) for t in missing),
        {k: str(v) for k, v in dates.items()},
        date_format,
        source,
        file_format,
        tuple(str(c) for c in confirm),
    )


def _shared_problems(columns: dict, dates: dict, shared: list) -> list[str]:
    """An export column feeding two canonical fields (or a field and a date) is almost always
    a slip; it is allowed only for the columns `shared_columns` names."""
    users: dict[str, list[str]] = {}
    for where, src in [
        *((f"columns.{k}", v) for k, v in columns.items()),
        *((f"dates.{k}", v) for k, v in dates.items() if k != "format"),
    ]:
        if isinstance(src, str):
            users.setdefault(src, []).append(where)
    allowed = {s for s in shared if isinstance(s, str)}
    problems = [
        f"shared_columns: {show(s)} is not a column the mapping reads"
        for s in shared
        if not isinstance(s, str) or s not in users
    ]
    problems += [
        f"{' and '.join(places)} read the same export column {show(src)}; map each "
        "field from its own column, or list the column in `shared_columns` if it "
        "really holds both"
        for src, places in users.items()
        if len(places) > 1 and src not in allowed
    ]
    return problems


def _section(raw: dict, name: str, kind: type, problems: list[str]):
    value = raw.get(name) or kind()
    if not isinstance(value, kind):
        problems.append(f"{name}: must be a {'mapping' if kind is dict else 'list'}")
        return kind()
    return value


def _invalid_value(name: str, value) -> str | None:
    """Why `value` is not a valid canonical value of `name` (None when it is; blank = unknown)."""
    if value is None or value == "":
        return None
    f = FIELDS_BY_NAME[name]
    if f.kind == "category":
        return None if value in f.categories else f"which is not {f.describe_range()}"
    if f.kind == "string":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"which is not {f.describe_range()}"
    if (
        (f.kind == "integer" and not number.is_integer())
        or (f.minimum is not None and number < f.minimum)
        or (f.maximum is not None and number > f.maximum)
    ):
        return f"which is not {f.describe_range()}"
    return None


def _unit_problems(name: str, unit, columns: dict) -> list[str]:
    if name not in UNITS and name not in NOT_CONVERTIBLE:
        return [
            f"units.{name}: the field has no unit to convert (fields with units: "
            f"{', '.join(UNITS)})"
        ]
    if not isinstance(unit, str):
        return [f"units.{name}: must be a unit name, got {show(unit)}"]
    if unit in NOT_CONVERTIBLE.get(name, {}):
        return [
            f"units.{name}: {show(unit)} cannot be converted to "
            f"{FIELDS_BY_NAME[name].unit}: {NOT_CONVERTIBLE[name][unit]}"
        ]
    if unit not in UNITS[name]:
        return [f"units.{name}: unknown unit {show(unit)} (known: {', '.join(UNITS[name])})"]
    if name not in columns:
        return [f"units.{name}: the field is not in `columns`"]
    return []


def _date_problems(dates: dict, date_format, columns: dict) -> list[str]:
    if not dates:
        return [] if date_format is None else ["dates: a format but no date columns"]
    problems = [
        f"dates: unknown date {show(k)} (known: format, {', '.join(DATE_ROLES)})"
        for k in dates
        if k not in DATE_ROLES
    ]
    if not date_format:
        problems.append(
            'dates.format: required, e.g. "%d/%m/%Y"; dates are never guessed '
            "(01/02/2023 is 1 February or 2 January)"
        )
    elif not isinstance(date_format, str) or "%" not in date_format:
        problems.append(
            f'dates.format: {show(date_format)} is not a strftime format such as "%Y-%m-%d"'
        )
    if "birth" in dates and "age_years" in columns:
        problems.append("dates.birth and columns.age_years both give the age: keep one")
    if (
        any(r in dates for r in ("birth", "progression", "death", "last_follow_up"))
        and INFUSION_DATE not in dates
    ):
        problems.append(
            "dates.infusion: required to derive ages and outcomes (times are "
            "measured from infusion)"
        )
    outcome_dates = [r for r in ("progression", "death", "last_follow_up") if r in dates]
    if outcome_dates:
        if "last_follow_up" not in dates:
            problems.append(
                "dates.last_follow_up: required with outcome dates (censoring of "
                "patients without progression or death)"
            )
        clash = [c for c in _DERIVED_FROM_DATES if c in columns]
        if clash:
            problems.append(
                f"columns.{clash[0]}: derived from the dates; map either the "
                "outcome columns or the dates, not both"
            )
    return problems


@dataclass
class MappedExport:
    """Canonical rows of an export and the problems found, rows numbered as in the export."""

    frame: pd.DataFrame  # validated canonical rows (index: 0-based export row)
    errors: pd.DataFrame  # row, field, value, error (rows 1-based)
    n_rows: int

    @property
    def n_valid(self) -> int:
        return len(self.frame)


def apply_mapping(
    raw: pd.DataFrame,
    mapping: Mapping,
    *,
    outcomes: bool = True,
    require_outcomes: bool = False,
    first_row: int = 1,
) -> MappedExport:
    """Map an export (cells as text, or as a typed file holds them: `features.readers`) to
    canonical columns and validate them. Typed numbers and dates are taken as they are.

    Every row ends either in `frame` or, with one line per problem, in `errors`. Problems of
    the export's own codes, units and dates name the source column; the rest come from
    `features.validate` and name the canonical field.
    """
    mapping.check_header([str(c) for c in raw.columns])
    n = len(raw)
    problems: list[dict] = []
    flagged_fields: dict[int, set[str]] = {}

    def flag(mask: np.ndarray, field_name: str, values, message: str, hides=(), other=None) -> None:
        """Report the rows of `mask`; `other`: per-row text filling "{other}" in `message`."""
        for i in np.flatnonzero(mask):
            problems.append(
                {
                    "row": int(i) + first_row,
                    "field": field_name,
                    "value": "" if values is None else escape(str(values[i])),
                    "error": message
                    if other is None
                    else message.replace("{other}", str(other[i])),
                }
            )
            flagged_fields.setdefault(int(i), set()).update(hides)

    tokens = set(mapping.missing)
    canonical: dict[str, np.ndarray] = {}
    for name, src in mapping.columns.items():
        codes = mapping.values.get(name)
        # Codes must match exactly, so they are stripped; numbers are read with their spaces
        # by the conversion and the validation (stripping every column costs a third here).
        numbers = (
            None
            if codes is not None or FIELDS_BY_NAME[name].kind not in ("number", "integer")
            else _typed_numbers(raw[src], tokens)
        )
        cells = (
            numbers if numbers is not None else _cells(raw[src], tokens, strip=codes is not None)
        )
        if codes is not None:
            mapped = pd.Series(cells).map(codes)
            known = mapped.notna().to_numpy() | (cells == "")
            flag(
                ~known,
                src,
                cells,
                f"code not in the mapping's values for {name} (known: "
                f"{', '.join(repr(c) for c in codes)})",
                hides=(name,),
            )
            cells = mapped.fillna("").to_numpy(dtype=object)
        if name in mapping.units:
            cells = _convert(name, mapping.units[name], cells, src, flag)
        canonical[name] = cells
    if mapping.units.get("ldh_u_l") == "xULN":
        _ldh_from_ratio(canonical)
    if mapping.dates:
        # Scoring needs only the dates an age comes from.
        roles = {
            r: src for r, src in mapping.dates.items() if outcomes or r in ("birth", INFUSION_DATE)
        }
        texts = {role: _cells(raw[src], tokens) for role, src in roles.items()}
        dates = {
            role: _parse_dates(texts[role], mapping.date_format, src, flag, raw[src])
            for role, src in roles.items()
        }
        if "birth" in dates:
            canonical["age_years"] = _age(dates, mapping.dates, texts, flag)
        if outcomes and mapping.derives_outcomes:
            canonical.update(_outcomes(dates, mapping.dates, texts, flag))
    if not outcomes:
        canonical = {k: v for k, v in canonical.items() if k not in OUTCOMES}
    frame = pd.DataFrame(canonical, index=raw.index, columns=list(canonical))
    # NaN here is only what conversion and dates produce for unknown (cells are strings).
    result = validate_frame(
        frame,
        first_row=first_row,
        allow_outcomes=outcomes,
        require_outcomes=require_outcomes,
        nan_is_missing=True,
    )
    checked = result.errors
    if len(checked) and flagged_fields:
        # A field already reported from its source column is not reported again.
        hidden = [
            r - first_row in flagged_fields and f in flagged_fields[r - first_row]
            for r, f in zip(checked["row"], checked["field"])
        ]
        checked = checked.loc[~np.asarray(hidden, bool)]
    # Name the export's own column beside the canonical field.
    sources = {name: f"{src} ({name})" for name, src in mapping.columns.items()}
    checked = checked.assign(field=checked["field"].map(lambda f: sources.get(f, f)))
    parts = [pd.DataFrame(problems, columns=list(checked.columns))] if problems else []
    errors = pd.concat(parts + [checked], ignore_index=True) if parts else checked.copy()
    errors["row"] = errors["row"].astype("Int64")
    errors = errors.sort_values("row", kind="stable", ignore_index=True)
    bad_positions = np.array(sorted(flagged_fields), dtype=int)
    accepted = result.frame.drop(index=raw.index[bad_positions], errors="ignore")
    return MappedExport(accepted, errors, n)


def _convert(name: str, unit: str, cells: np.ndarray, src: str, flag) -> np.ndarray:
    """Numbers in the canonical unit (NaN = unknown; validation sees the numbers)."""
    numbers = pd.to_numeric(pd.Series(cells), errors="coerce").to_numpy(float)
    bad = np.isnan(numbers) & (cells != "") if cells.dtype == object else np.zeros(len(cells), bool)
    flag(bad, src, cells, f"is not a number (in {unit})", hides=(name,))
    return numbers * UNITS[name][unit]


def _ldh_from_ratio(canonical: dict) -> None:
    ratio = canonical["ldh_u_l"]
    if "ldh_uln_u_l" in canonical:
        uln = np.asarray(canonical["ldh_uln_u_l"], float)
    else:
        uln = np.where(np.isnan(ratio), np.nan, NOMINAL_ULN_U_L)
        canonical["ldh_uln_u_l"] = uln
    canonical["ldh_u_l"] = ratio * uln


def _texts(column: pd.Series, strip: bool = True) -> np.ndarray:
    """Cells as strings ("" = blank), stripped when asked, whatever the frame held.

    Codes and dates repeat: each distinct cell is stripped once (a hash pass in C), not
    every cell in Python.
    """
    if pd.api.types.is_datetime64_any_dtype(column.dtype):  # a typed file's dates, as text
        where, distinct = pd.factorize(column, use_na_sentinel=True)
        shown = pd.DatetimeIndex(distinct).strftime("%Y-%m-%d").tolist()
        return np.array(shown + [""], dtype=object)[where]
    if strip:
        where, distinct = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)
        cleaned = np.array([str(v).strip() for v in distinct] + [""], dtype=object)
        return cleaned[where]  # the sentinel -1 (a missing cell) takes the trailing ""
    # (A CSV read as text is all strings: infer_dtype says so in one C pass.)
    if pd.api.types.infer_dtype(column, skipna=False) != "string":
        column = column.astype(object).where(column.notna(), "").astype(str)
    return column.to_numpy(dtype=object)


def _typed_numbers(column: pd.Series, tokens: set) -> np.ndarray | None:
    """A typed file's numbers as they are (NaN = unknown, numeric missing tokens such as -9
    included), never re-read from text; None for a column of text."""
    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return None
    values = column.to_numpy(dtype=float, na_value=np.nan)
    numeric_tokens = pd.to_numeric(pd.Series(list(tokens), dtype=object), errors="coerce")
    numeric_tokens = numeric_tokens[numeric_tokens.notna()].to_numpy(float)
    return (
        np.where(np.isin(values, numeric_tokens), np.nan, values) if len(numeric_tokens) else values
    )


def _cells(column: pd.Series, tokens: set, strip: bool = True) -> np.ndarray:
    """`_texts`, with the mapping's missing-value tokens made blank."""
    text = _texts(column, strip)
    return np.where(np.isin(text, list(tokens)), "", text) if tokens else text


def _parse_dates(
    text: np.ndarray, date_format: str, src: str, flag, column: pd.Series | None = None
) -> np.ndarray:
    # A registry repeats its dates: parse each distinct one once.
    where, distinct = pd.factorize(text)
    parsed = pd.Series(
        pd.to_datetime(
            pd.Series(distinct, dtype=object), format=date_format, errors="coerce"
        ).to_numpy()[where]
    )
    typed = None if column is None else typed_dates(column)
    if typed is not None:  # a workbook's or SAS file's dates are dates: no format applies
        parsed = pd.Series(
            np.where(np.isnat(typed), parsed.to_numpy(dtype="datetime64[ns]"), typed)
        )
    bad = parsed.isna().to_numpy() & (text != "")
    flag(
        bad,
        src,
        text,
        f"is not a date in the declared format {date_format}",
        hides=("age_years",) + _DERIVED_FROM_DATES,
    )
    return parsed.to_numpy(dtype="datetime64[ns]")


def _days(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    return (later - earlier) / np.timedelta64(1, "D")


def _age(dates: dict, names: dict, texts: dict, flag) -> np.ndarray:
    years = _days(dates[INFUSION_DATE], dates["birth"]) / 365.25
    with np.errstate(invalid="ignore"):
        flag(
            years < 0,
            names["birth"],
            texts["birth"],
            f"is after the infusion date ({names[INFUSION_DATE]})",
            hides=("age_years",),
        )
    return np.where(years < 0, np.nan, years)


def _outcomes(dates: dict, names: dict, texts: dict, flag) -> dict[str, np.ndarray]:
    """PFS and OS from infusion, progression, death and last-contact dates (in months)."""
    nat = np.full(len(dates[INFUSION_DATE]), np.datetime64("NaT"), dtype="datetime64[ns]")
    inf = dates[INFUSION_DATE]
    prog, death = dates.get("progression", nat), dates.get("death", nat)
    last = dates["last_follow_up"]
    hides = _DERIVED_FROM_DATES
    has = {
        k: ~np.isnat(v) for k, v in (("inf", inf), ("prog", prog), ("death", death), ("last", last))
    }
    # (An unreadable infusion date is reported once, as unreadable.)
    flag(
        ~has["inf"] & (texts[INFUSION_DATE] == "") & (has["prog"] | has["death"] | has["last"]),
        names[INFUSION_DATE],
        None,
        "is required to measure outcomes from infusion",
        hides=hides,
    )
    flag(
        has["inf"] & ~(has["prog"] | has["death"] | has["last"]),
        names["last_follow_up"],
        None,
        "is required when there is neither progression nor death",
        hides=hides,
    )
    checks = [
        ("prog", "inf", "progression", INFUSION_DATE, "is before the infusion date"),
        ("death", "inf", "death", INFUSION_DATE, "is before the infusion date"),
        ("death", "prog", "death", "progression", "is before the progression date"),
        ("last", "inf", "last_follow_up", INFUSION_DATE, "is before the infusion date"),
        ("last", "prog", "last_follow_up", "progression", "is before the progression date"),
    ]
    values = {"inf": inf, "prog": prog, "death": death, "last": last}
    for a, b, role_a, role_b, message in checks:
        if role_a in names and role_b in names:
            wrong = has[a] & has[b] & (values[a] < values[b])
            flag(
                wrong,
                names[role_a],
                texts[role_a],
                f"{message} ({names[role_b]}: " + "{other})",
                hides=hides,
                other=texts[role_b],
            )
    pfs_end = np.where(has["prog"], prog, np.where(has["death"], death, last))
    pfs_event = has["prog"] | has["death"]
    os_end = np.where(
        has["death"], death, np.where(has["last"] & (~has["prog"] | (last >= prog)), last, prog)
    )
    pfs_months = _days(pfs_end, inf) / DAYS_PER_MONTH
    os_months = _days(os_end, inf) / DAYS_PER_MONTH
    usable = has["inf"] & ~np.isnan(pfs_months)
    kind = np.where(has["prog"], "progression", np.where(has["death"], "death", ""))

    def months(v):
        with np.errstate(invalid="ignore"):
            return np.where(usable & (v >= 0), v, np.nan)

    return {
        PFS_MONTHS: months(pfs_months),
        PFS_EVENT: np.where(usable, pfs_event.astype(float), np.nan),
        PFS_EVENT_TYPE: np.where(usable & (kind != ""), kind, None).astype(object),
        OS_MONTHS: months(os_months),
        OS_EVENT: np.where(usable, has["death"].astype(float), np.nan),
    }


def mapped_columns(mapping: Mapping) -> list[str]:
    """The canonical columns an export mapped with `mapping` will have."""
    cols = list(mapping.columns)
    if "birth" in mapping.dates:
        cols.append("age_years")
    if mapping.units.get("ldh_u_l") == "xULN" and "ldh_uln_u_l" not in cols:
        cols.append("ldh_uln_u_l")
    if mapping.derives_outcomes:
        cols += [c for c in _DERIVED_FROM_DATES if c not in cols]
    return [c for c in COLUMNS if c in cols]


def canonical_table(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Validated rows typed for a canonical CSV: integers as nullable integers (no decimals),
    numbers rounded to 6 decimals (a millionth of a unit: far below any measurement's
    precision; a third of the write time of full precision), categories as text."""
    out = {}
    for name in columns:
        kind = FIELDS_BY_NAME[name].kind
        values = frame[name]
        out[name] = (
            values.astype(float).astype("Int64")
            if kind == "integer"
            else values.astype(float).round(6)
            if kind == "number"
            else values
        )
    return pd.DataFrame(out, index=frame.index, columns=columns)
