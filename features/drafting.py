"""Writing a first mapping for an export (`relapse-risk mapping draft`) and checking a mapping
against one before anything is imported (`mapping check`).

A draft never states a guess as a fact: every column, code, unit, missing token and date format
it proposes is marked `# CONFIRM` and listed under `confirm:`, and `features.mapping` refuses a
mapping whose `confirm` list is not empty.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.mapping import INFUSION_DATE, UNITS, Mapping, apply_mapping
from features.readers import DELIMITERS, Export, as_text, typed_dates
from features.schema import (
    FIELDS_BY_NAME,
    OS_EVENT,
    OS_MONTHS,
    PFS_EVENT,
    PFS_EVENT_TYPE,
    PFS_MONTHS,
)

# Rows looked at to draft (codes, ranges, date formats): the first 100,000.
DRAFT_ROWS = 100_000
# Columns listed with their distinct values when there are at most this many (codes).
MAX_CODES = 40

# Names (lower case, punctuation as spaces) that suggest each canonical field or date role;
# matched against the column's name and its label (SAS, Stata, SPSS).
NAME_PATTERNS: dict[str, str] = {
    "patient_id": r"\b(patient|pt|subject|case|record|crid)\s*(id|no|nr|number|code)\b|^id$"
    r"|^crid$|\bupn\b|\bpseudonym",
    "age_years": r"\bage\b(?!\s*adj)|\bage at",
    "ecog": r"\becog\b|\bperformance (status|score)\b|\bps\b|\bwho ps\b",
    "stage": r"\bstage\b|\bann arbor\b|\bstadium\b",
    "extranodal_sites": r"extra\s*nodal|\ben sites\b|\bextranod",
    "ldh_uln_u_l": r"\bldh\b.*\b(uln|upper|normal|limit)\b|^uln\b",
    "ldh_u_l": r"\bldh\b|\blactate dehydrogenase\b",
    "aaipi": r"\baaipi\b|\baa ipi\b|\bage adj\w* (ipi|international)",
    "ipi": r"\bipi\b|\binternational prognostic\b",
    "tmtv_ml": r"\btmtv\b|\bmetabolic tumou?r volume\b|\bmtv\b",
    "tp53_status": r"\btp53\b|\bp53\b|\b17p\b",
    "prior_lines": r"\bprior (lines?|therap\w*|regimens?|treatments?)\b|\blines? of (therap\w*|"
    r"treatments?)\b|\bnumber of (prior )?lines\b|\blines\b",
    "bridging_therapy": r"\bbridg",
    "ctdna_d28": r"\bctdna\b|\bcirculating tumou?r dna\b",
    "cart_cmax_per_ul": r"\bcmax\b|\bpeak\b.*\b(car|cells|expansion)\b|\bexpansion\b",
    "best_response": r"\bbest (overall )?response\b|\bbor\b|\bbest resp",
    PFS_MONTHS: r"\bpfs\b.*\b(months?|time|mo)\b",
    PFS_EVENT: r"\bpfs\b.*\b(event|status|censor\w*)\b",
    OS_MONTHS: r"\bos\b.*\b(months?|time|mo)\b",
    OS_EVENT: r"\bos\b.*\b(event|status|censor\w*)\b",
}
DATE_PATTERNS: dict[str, str] = {
    "birth": r"\bbirth\b|\bdob\b|\bborn\b|\bnaissance\b",
    INFUSION_DATE: r"\binfusion\b|\bcar\s*t\b.*\bdate\b|\bdate\b.*\b(cellular therapy|car\s*t)\b"
    r"|\bhct\b.*\bdate\b|\bct date\b",
    "progression": r"\bprogression\b|\brelapse\b|\bpd date\b|\brecurrence\b",
    "death": r"\bdeath\b|\bdeceased\b|\bdod\b|\bdied\b|\bdeces\b",
    "last_follow_up": r"\blast (contact|follow\s*up|seen|visit|news|alive)\b|\bfollow\s*up date\b"
    r"|\bdate of last\b|\blfu\b|\bactual contact\b",
}
# Source codes (lower case, punctuation as spaces) that suggest each canonical code.
CODE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "tp53_status": {
        "altered": (
            "mutated",
            "mutation",
            "mut",
            "altered",
            "deleted",
            "deletion",
            "del",
            "abnormal",
            "aberrant",
            "del17p",
            "17p del",
        ),
        "wild_type": (
            "wt",
            "wild type",
            "wildtype",
            "wild",
            "not mutated",
            "unmutated",
            "no mutation",
            "normal",
        ),
    },
    "ctdna_d28": {
        "detectable": ("pos", "positive", "detectable", "detected", "mrd pos"),
        "undetectable": ("neg", "negative", "undetectable", "not detected", "mrd neg"),
    },
    "bridging_therapy": {
        "none": ("no", "none", "no bridging", "not bridged"),
        "chemotherapy": ("chemo", "chemotherapy", "ct", "systemic chemotherapy"),
        "radiotherapy": ("rt", "radio", "radiotherapy", "radiation", "xrt"),
        "imid": ("imid", "lenalidomide", "len"),
        "polatuzumab_br": (
            "pola br",
            "polabr",
            "pola",
            "polatuzumab",
            "pola bendamustine rituximab",
        ),
        "btk_inhibitor": (
            "btki",
            "btk",
            "btk inhibitor",
            "ibrutinib",
            "acalabrutinib",
            "zanubrutinib",
        ),
        "steroids": ("steroids", "steroid", "corticosteroids", "dexamethasone", "dex"),
        "anti_cd20": ("anti cd20", "rituximab", "obinutuzumab", "anti cd20 antibody"),
        "other": ("other",),
        "bridged_type_unknown": (
            "yes type not recorded",
            "yes",
            "bridged",
            "yes unknown type",
            "systemic therapy",
            "systemic",
        ),
    },
    "best_response": {
        "CR": (
            "cr",
            "complete",
            "complete response",
            "complete remission",
            "cmr",
            "complete metabolic response",
        ),
        "PR": ("pr", "partial", "partial response", "partial remission", "pmr"),
        "SD": ("sd", "stable", "stable disease", "nmr", "no response"),
        "PD": ("pd", "progression", "progressive disease", "pmd"),
    },
    PFS_EVENT_TYPE: {
        "progression": ("progression", "relapse", "pd"),
        "death": ("death", "died", "nrm"),
    },
}
ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
# Units as headers write them (lower case), per canonical unit name in `UNITS`.
UNIT_WORDS = {
    "ukat/L": ("ukat/l", "µkat/l", "μkat/l", "ukat l"),
    "U/L": ("u/l", "iu/l"),
    "xULN": ("xuln", "x uln", "× uln", "ratio", "/uln", "times uln"),
    "cm3": ("cm3", "cm³", "cc"),
    "mL": ("ml",),
    "L": ("(l)",),
    "cells/uL": ("cells/ul", "cells/µl", "/ul", "/µl", "cells/mm3", "cells ul"),
    "cells/mL": ("cells/ml", "/ml"),
    "months": ("month",),
}
MISSING_TOKENS = (
    "NA",
    "N/A",
    "n/a",
    "na",
    "NaN",
    "nan",
    "NK",
    "Unknown",
    "unknown",
    "UNK",
    "unk",
    "Missing",
    "missing",
    "ND",
    "not done",
    "Not done",
    ".",
    "-",
    "?",
    "99 (unknown)",
    "Not known",
    "not known",
)
# strftime formats tried on text dates, the day-first ones before the month-first ones.
DATE_FORMATS = (
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%Y%m%d",
    "%d-%b-%Y",
    "%d%b%Y",
    "%d %b %Y",
    "%Y-%m-%d %H:%M:%S",
)
# LDH whose median is below this is read as ukat/L (normal range about 2-4 ukat/L, that is
# 120-250 U/L); a ratio to the ULN (xULN) is as small, so the guess is marked like all others.
LDH_UKAT_BELOW = 30
_DERIVED = (PFS_MONTHS, PFS_EVENT, OS_MONTHS, OS_EVENT)


def _words(text: str) -> str:
    text = text.lower().replace("µ", "u").replace("μ", "u")
    return re.sub(r"[^a-z0-9/]+", " ", text).strip()


@dataclass
class _Column:
    name: str
    label: str
    text: np.ndarray  # cells as text ("" blank)
    typed_dates: bool
    labels: dict[str, str]  # value labels {code: label}
    distinct: list[str] = field(default_factory=list)
    numbers: np.ndarray | None = None  # the cells as numbers where they are (NaN elsewhere)

    @property
    def words(self) -> str:
        return _words(self.name + " " + self.label)

    def numeric_share(self, tokens: set) -> float:
        filled = np.array([t != "" and t not in tokens for t in self.text])
        if not filled.any():
            return 0.0
        return float(np.isfinite(self.numbers[filled]).mean())


def _profile(export: Export, frame: pd.DataFrame) -> list[_Column]:
    text = as_text(frame)
    columns = []
    for name in frame.columns:
        cells = text[name].map(lambda v: str(v).strip()).to_numpy(dtype=object)
        column = _Column(
            name,
            export.column_labels.get(name, ""),
            cells,
            typed_dates(frame[name]) is not None,
            export.labels.get(name, {}),
        )
        counts = Counter(cells)
        counts.pop("", None)
        column.distinct = [v for v, _ in counts.most_common()]
        column.numbers = pd.to_numeric(pd.Series(cells), errors="coerce").to_numpy(float)
        columns.append(column)
    return columns


def _missing_tokens(columns: list[_Column]) -> list[str]:
    seen = Counter()
    for column in columns:
        for token in MISSING_TOKENS:
            if token in column.distinct:
                seen[token] += 1
    return [t for t, _ in seen.most_common()]


def _fits(name: str, column: _Column, tokens: set) -> tuple[bool, str]:
    """Whether the column's content fits the canonical field, and what it looked like."""
    f = FIELDS_BY_NAME[name]
    values = [v for v in column.distinct if v not in tokens]
    if not values:
        return True, "every cell blank or a missing token"
    if f.kind == "string":
        return True, f"{len(values)} distinct values"
    if f.kind == "category" or name == "stage" or (column.labels and f.kind == "integer"):
        codes = _codes(name, values, {}, _says_mutation(column))
        known = sum(v != "" for v in codes.values())
        shown = ", ".join(repr(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        if (name == "stage" or column.labels) and known:
            return True, f"codes {shown}"
        if f.kind == "category":
            return known > 0, f"codes {shown}"
    numbers = column.numbers[np.isfinite(column.numbers)]
    if column.numeric_share(tokens) < 0.95 or not len(numbers):
        return False, "not numbers"
    low, high = float(numbers.min()), float(numbers.max())
    span = f"values {low:g} to {high:g}"
    if f.kind == "integer" and not np.all(np.mod(numbers, 1) == 0):
        return False, span + " (not whole numbers)"
    if f.kind == "integer" and (low < f.minimum or high > f.maximum):
        return False, span + f" (outside {f.describe_range()})"
    return True, span


def _codes(
    name: str, values: list[str], labels: dict[str, str], header_says_mutation: bool = False
) -> dict[str, object]:
    """Each source code with the likely canonical code ("" when none is recognised); yes/no
    are TP53 codes only under a header that names a mutation or alteration."""
    out: dict[str, object] = {}
    for value in values:
        word = _words(labels.get(value, value))
        if name == "stage":
            word = re.sub(r"^(ann arbor )?stage ", "", word)
            roman = re.match(r"^(i{1,3}|iv)\b", word)
            digit = re.match(r"^([1-4])\b", word)
            out[value] = ROMAN[roman.group(1)] if roman else int(digit.group(1)) if digit else ""
            continue
        guess = ""
        if name not in CODE_WORDS:  # an integer field written as text: its leading number
            digit = re.match(r"^(\d+)\b", word)
            out[value] = int(digit.group(1)) if digit else ""
            continue
        abbreviation = re.search(r"\(([a-z0-9 ]+)\)\s*$", labels.get(value, value).lower())
        candidates = [word] + ([abbreviation.group(1).strip()] if abbreviation else [])
        for candidate in candidates:  # the whole code, then "(CR)" in "Complete remission (CR)"
            for canonical, words in CODE_WORDS[name].items():
                if candidate in words or canonical.lower() == candidate.replace(" ", "_"):
                    guess = canonical
                    break
            if guess:
                break
        if not guess:  # "Stable disease / no response", "Radiation therapy": the first words
            for canonical, words in CODE_WORDS[name].items():
                if any(len(w) >= 5 and word.startswith(w + " ") for w in words):
                    guess = canonical
                    break
        if not guess and name == "tp53_status" and header_says_mutation and word in ("yes", "no"):
            guess = "altered" if word == "yes" else "wild_type"
        out[value] = guess
    return out


def _says_mutation(column: _Column) -> bool:
    return bool(re.search(r"\b(mutat\w*|alter\w*|abnormal\w*|aberr\w*)\b", column.words))


def _unit(name: str, column: _Column) -> str | None:
    if name not in UNITS:
        return None
    header = " ".join((column.name.lower(), column.label.lower(), column.words))
    for unit, words in UNIT_WORDS.items():
        if unit in UNITS[name] and any(w in header for w in words):
            return unit
    return None


def _date_format(columns: list[_Column], tokens: set) -> tuple[str | None, str]:
    """The format that reads the most text dates, and why (ambiguity said)."""
    values = sorted({v for c in columns for v in c.distinct if v not in tokens})
    if not values:
        return None, "every date column holds typed dates"
    sample = pd.Series(values[:: max(1, len(values) // 5000)], dtype=object)
    read = {
        fmt: int(pd.to_datetime(sample, format=fmt, errors="coerce").notna().sum())
        for fmt in DATE_FORMATS
    }
    best = max(read, key=read.get)
    if not read[best]:
        return None, "no format tried reads these dates"
    rivals = [fmt for fmt, n in read.items() if n == read[best] and fmt != best]
    why = f"reads {read[best]} of {len(sample)} distinct dates"
    if rivals:
        why += f"; so does {rivals[0]} (day and month are ambiguous: check a date after the 12th)"
    return best, why


def _q(text) -> str:
    """A YAML scalar (JSON's double-quoted strings are YAML's)."""
    return json.dumps(text, ensure_ascii=False) if isinstance(text, str) else str(text)


def draft_mapping(export: Export, frame: pd.DataFrame) -> str:
    """A mapping (YAML text) for `frame`, the rows of `export`, every guess marked.

    Each canonical field takes the unused column whose name (or label) matches it and whose
    content fits (range, integers, codes); date roles take date columns by name.
    """
    columns = _profile(export, frame)
    tokens = _missing_tokens(columns)
    token_set = set(tokens)
    confirm: list[str] = []
    used: set[str] = set()
    mapped: dict[str, tuple[_Column, str]] = {}
    for name in NAME_PATTERNS:
        for column in columns:
            if column.name in used or not re.search(NAME_PATTERNS[name], column.words):
                continue
            ok, seen = _fits(name, column, token_set)
            if ok:
                mapped[name] = (column, seen)
                used.add(column.name)
                break
    dates: dict[str, tuple[_Column, str]] = {}
    for role, pattern in DATE_PATTERNS.items():
        for column in columns:
            if column.name in used or not re.search(pattern, column.words):
                continue
            text_dates = [v for v in column.distinct if v not in token_set]
            if column.typed_dates or (
                text_dates
                and not np.isfinite(
                    pd.to_numeric(pd.Series(text_dates[:50]), errors="coerce")
                ).any()
            ):
                dates[role] = (
                    column,
                    "typed dates"
                    if column.typed_dates
                    else f"e.g. {text_dates[0]!r}"
                    if text_dates
                    else "blank",
                )
                used.add(column.name)
                break
    # What the loader would refuse: an age twice, outcome dates beside outcome columns.
    if "birth" in dates and "age_years" in mapped:
        used.discard(dates.pop("birth")[0].name)
    outcome_dates = [r for r in ("progression", "death", "last_follow_up") if r in dates]
    if outcome_dates and ("last_follow_up" not in dates or INFUSION_DATE not in dates):
        for role in outcome_dates:
            used.discard(dates.pop(role)[0].name)
    if outcome_dates and "last_follow_up" in dates:
        for name in _DERIVED:
            if name in mapped:
                used.discard(mapped.pop(name)[0].name)
    if INFUSION_DATE in dates and len(dates) == 1:
        used.discard(dates.pop(INFUSION_DATE)[0].name)

    lines = [
        f"# A first mapping for {export.path.name}, written by `relapse-risk mapping draft`"
        f" ({len(frame)} rows looked at, {len(columns)} columns).",
        "# Nothing here is known, only guessed: every guess is marked CONFIRM and listed",
        "# under `confirm:` at the end, and relapse-risk refuses this mapping while that",
        "# list holds anything. Check each guess against the export and its data",
        "# dictionary, correct it, then delete its line from `confirm`.",
        f"# {export.describe()}",
        "",
    ]
    if export.kind == "csv":
        f = export.fmt
        lines += [
            "# How the file is read (detected; CONFIRM).",
            "file:",
            f"  delimiter: {_q('tab' if f.delimiter == chr(9) else f.delimiter)}",
            f"  decimal: {_q(f.decimal)}",
            f"  encoding: {_q(f.encoding)}",
            "",
        ]
        confirm.append(
            f"file: delimiter {DELIMITERS[f.delimiter]}, decimal {f.decimal!r}, "
            f"encoding {f.encoding}"
        )
    elif export.kind == "excel":
        lines += ["file:", f"  sheet: {_q(export.fmt.sheet)}", ""]
    if mapped:
        lines.append("columns:")
        for name, (column, seen) in mapped.items():
            lines.append(f"  {name}: {_q(column.name)}  # CONFIRM: name matches; {seen}")
            confirm.append(f"columns.{name} = {column.name!r} (by name; {seen})")
        lines.append("")
    values_lines: list[str] = []
    for name, (column, _) in mapped.items():
        f = FIELDS_BY_NAME[name]
        coded = f.kind == "category" or (
            f.kind == "integer" and column.numeric_share(token_set) < 0.95
        )
        if not coded or not column.distinct:
            continue
        distinct = [v for v in column.distinct if v not in token_set][:MAX_CODES]
        codes = _codes(name, distinct, column.labels, _says_mutation(column))
        values_lines.append(f"  {name}:  # CONFIRM every code ({column.name!r})")
        stored = {label: code for code, label in column.labels.items()}
        for code, guess in codes.items():
            note = (
                f"  # stored code {stored[code]}"
                if code in stored and export.fmt.value_labels
                else f"  # label {column.labels[code]!r}"
                if code in column.labels
                else ""
            )
            if guess == "":
                note += '  # CONFIRM: not recognised; "" reads it as unknown'
            values_lines.append(
                f"    {_q(code)}: {_q(guess) if guess != '' else chr(34) * 2}{note}"
            )
        unknown = [c for c, g in codes.items() if g == ""]
        confirm.append(
            f"values.{name}: {len(codes)} codes of {column.name!r}"
            + (
                f", not recognised (read as unknown): {', '.join(map(repr, unknown))}"
                if unknown
                else ""
            )
        )
    if values_lines:
        lines += [
            "# Codes, exhaustive per field: a code not listed is a per-row error.",
            "values:",
            *values_lines,
            "",
        ]
    unit_lines = []
    for name, (column, _) in mapped.items():
        unit = _unit(name, column)
        numbers = column.numbers[np.isfinite(column.numbers)]
        if (
            unit is None
            and name in ("ldh_u_l", "ldh_uln_u_l")
            and len(numbers)
            and np.median(numbers) < LDH_UKAT_BELOW
        ):
            unit = "ukat/L"
            why = (
                f"no unit in the header; median {np.median(numbers):.3g}, the size of "
                "LDH in ukat/L (in U/L it would be in the hundreds)"
            )
        elif name in UNITS and unit is None and name != "age_years":
            unit = FIELDS_BY_NAME[name].unit.replace("µ", "u")
            unit = unit if unit in UNITS[name] else None
            why = "no unit in the header: the canonical unit assumed"
        else:
            why = "from the header"
        if unit is not None and name in UNITS:
            unit_lines.append(f"  {name}: {_q(unit)}  # CONFIRM: {why}")
            confirm.append(f"units.{name} = {unit!r} ({why})")
    if unit_lines:
        lines += ["units:", *unit_lines, ""]
    if tokens:
        lines += [
            f"missing: [{', '.join(_q(t) for t in tokens)}]  # CONFIRM: cells that mean unknown",
            "",
        ]
        confirm.append(f"missing: {', '.join(repr(t) for t in tokens)} read as unknown")
    if dates:
        text_columns = [c for c, _ in dates.values() if not c.typed_dates]
        fmt, why = _date_format(text_columns, token_set)
        lines += [
            "dates:",
            f"  format: {_q(fmt or '%Y-%m-%d')}  # CONFIRM: "
            + (why if fmt else why + "; the format applies only to dates held as text"),
        ]
        confirm.append(f"dates.format = {fmt or '%Y-%m-%d'!r} ({why})")
        for role, (column, seen) in dates.items():
            lines.append(f"  {role}: {_q(column.name)}  # CONFIRM: name matches; {seen}")
            confirm.append(f"dates.{role} = {column.name!r} (by name; {seen})")
        lines.append("")
    unmatched = [c for c in columns if c.name not in used]
    if unmatched:
        lines.append("# Columns not matched to a canonical field (not imported):")
        for column in unmatched:
            example = ", ".join(repr(v) for v in column.distinct[:3])
            lines.append(
                f"#   {column.name}: {len(column.distinct)} distinct values"
                + (f" (e.g. {example})" if example else "")
            )
        lines.append("")
    missing_fields = [
        n
        for n in NAME_PATTERNS
        if n not in mapped and n not in _DERIVED and not (n == "age_years" and "birth" in dates)
    ]
    if missing_fields:
        lines += [
            "# Canonical fields no column was matched to (map them by hand if the "
            "export has them):",
            "#   " + ", ".join(missing_fields),
            "",
        ]
    lines.append("# Delete each line once checked; an empty list lets the mapping be used.")
    lines.append("confirm:")
    lines += [f"  - {_q(item)}" for item in confirm]
    return "\n".join(lines) + "\n"


@dataclass
class CheckReport:
    """What importing an export through a mapping would do, found before anything is written."""

    rows: int = 0
    accepted: int = 0
    problems: Counter = field(default_factory=Counter)  # (column, error) -> rows
    first_rows: dict = field(default_factory=dict)  # (column, error) -> first rows
    unused: list[str] = field(default_factory=list)

    def lines(self, mapping: Mapping) -> list[str]:
        out = [
            f"rows {self.rows}: {self.accepted} would be accepted, "
            f"{self.rows - self.accepted} rejected"
        ]
        for (column, error), count in self.problems.most_common():
            rows = ", ".join(map(str, self.first_rows[(column, error)]))
            out.append(
                f"  {count:6} x {column}: {error} (rows {rows}"
                + (", ..." if count > len(self.first_rows[(column, error)]) else "")
                + ")"
            )
        if self.unused:
            out.append(f"export columns the mapping does not read: {', '.join(self.unused)}")
        if mapping.confirm:
            out.append(
                f"not yet confirmed ({len(mapping.confirm)}; the mapping is refused "
                "until `confirm` is empty):"
            )
            out += [f"  - {item}" for item in mapping.confirm]
        return out


def check_mapping(export: Export, mapping: Mapping, chunks) -> CheckReport:
    """Apply `mapping` to every chunk of `export` (nothing written) and count the problems
    by the export's column and message."""
    mapping.check_header(export.header)
    report = CheckReport(unused=[c for c in export.header if c not in mapping.source_columns()])
    for chunk in chunks:
        if chunk.empty:
            continue
        first_row = report.rows + 1
        chunk = chunk.copy()
        chunk.index = pd.RangeIndex(first_row - 1, first_row - 1 + len(chunk))
        mapped = apply_mapping(chunk, mapping, first_row=first_row)
        report.rows += len(chunk)
        report.accepted += mapped.n_valid
        for row, column, error in zip(
            mapped.errors["row"], mapped.errors["field"], mapped.errors["error"]
        ):
            key = (column, re.sub(r"\(([^()]*): [^()]*\)$", r"(\1: ...)", str(error)))
            report.problems[key] += 1
            if len(report.first_rows.setdefault(key, [])) < 5:
                report.first_rows[key].append(int(row))
    return report
