"""Registry files in: CSV/TSV in any dialect, Excel, SAS, Stata and SPSS read into frames whose
typed cells stay typed (a date is a date). Owns a mapping's `file:` section and the detection of
what it leaves out; `features.mapping` then reads the frames' cells.

Readers: pandas' C parser for CSV; calamine (Rust) for .xlsx/.xls/.ods, which reads a
100,000-row workbook about five times faster than openpyxl, for about 1.5 times its peak memory
(benchmarks/bench_import.py; a workbook is read whole by either); ReadStat (pyreadstat) for
.sas7bdat, .xpt, .dta and .sav, read in chunks, with value labels kept as the column's codes'
labels.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# The `file:` section of a mapping.
FILE_KEYS = ("delimiter", "decimal", "thousands", "encoding", "sheet", "value_labels")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
DECIMALS = (".", ",")
THOUSANDS = ("", ".", ",", " ", "'", "\u00a0")
# The reader of each file name ending (checked in this order: .csv.gz before .gz).
KINDS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".tab": "csv",
    ".csv.gz": "csv",
    ".tsv.gz": "csv",
    ".txt.gz": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".ods": "excel",
    ".sas7bdat": "sas7bdat",
    ".xpt": "xport",
    ".dta": "stata",
    ".sav": "spss",
    ".zsav": "spss",
}
KIND_NAMES = {
    "csv": "CSV",
    "excel": "Excel",
    "sas7bdat": "SAS",
    "xport": "SAS transport",
    "stata": "Stata",
    "spss": "SPSS",
}
# Bytes of a text file looked at to detect its encoding, delimiter and decimal mark.
SAMPLE_BYTES = 256 * 1024
# Encodings tried, in order, when a text file is not UTF-8 and the mapping declares none:
# Windows-1252 is what Excel on a European Windows writes; Latin-1 decodes any byte.
FALLBACK_ENCODINGS = ("cp1252", "latin-1")


class ExportFileError(ValueError):
    """A file that cannot be read as a table (format, encoding, dialect, sheet)."""


@dataclass(frozen=True)
class FileFormat:
    """How a file is read; None = detected (and what was detected is said)."""

    delimiter: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    # SPSS/Stata value labels: cells read as their labels (the codes a mapping's `values`
    # name, as the registry displays them) or, when False, as the stored codes.
    value_labels: bool = True


def parse_file_section(raw) -> tuple[FileFormat, list[str]]:
    """The mapping's `file:` section, validated: (format, problems)."""
    if raw is None:
        return FileFormat(), []
    if not isinstance(raw, dict):
        return FileFormat(), [
            'file: must be a mapping, e.g. {delimiter: ";", decimal: ",", encoding: cp1252}'
        ]
    problems = [
        f"file: unknown key {k!r} (known: {', '.join(FILE_KEYS)})"
        for k in raw
        if k not in FILE_KEYS
    ]
    delimiter, decimal = raw.get("delimiter"), raw.get("decimal")
    thousands, encoding, sheet = raw.get("thousands"), raw.get("encoding"), raw.get("sheet")
    value_labels = raw.get("value_labels", True)
    if not isinstance(value_labels, bool):
        problems.append(
            f"file.value_labels: true (cells read as their labels) or false (as "
            f"the stored codes), got {value_labels!r}"
        )
        value_labels = True
    if delimiter == "tab":
        delimiter = "\t"
    if delimiter is not None and delimiter not in DELIMITERS:
        problems.append(
            f"file.delimiter: {delimiter!r} is not one of "
            + ", ".join(repr(d) for d in DELIMITERS)
            + " (or tab)"
        )
    if decimal is not None and decimal not in DECIMALS:
        problems.append(f"file.decimal: {decimal!r} is not '.' or ','")
    if thousands is not None and thousands not in THOUSANDS:
        problems.append(
            f"file.thousands: {thousands!r} is not one of " + ", ".join(repr(t) for t in THOUSANDS)
        )
    if thousands and thousands == (decimal or "."):
        problems.append(f"file.thousands: {thousands!r} is also the decimal mark")
    if thousands and thousands == delimiter:
        problems.append(f"file.thousands: {thousands!r} is also the delimiter")
    if decimal == "," and delimiter == ",":
        problems.append(
            "file.decimal: ',' with a comma delimiter; a decimal comma needs "
            "another delimiter (usually ';')"
        )
    if encoding is not None:
        try:
            encoding = codecs.lookup(str(encoding)).name
        except LookupError:
            problems.append(
                f"file.encoding: unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)"
            )
            encoding = None
    if sheet is not None and not isinstance(sheet, (str, int)) or isinstance(sheet, bool):
        problems.append(f"file.sheet: a sheet name or a 0-based index, got {sheet!r}")
    return FileFormat(
        delimiter, decimal, thousands or None, encoding, sheet, value_labels
    ), problems


def kind_of(path: Path) -> str:
    """The reader for a file name (CSV when the name says nothing else)."""
    name = path.name.lower()
    for ending, kind in sorted(KINDS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(ending):
            return kind
    return "csv"


@dataclass
class Export:
    """An export opened for reading: its header, how it is read, and its chunks.

    `fast`: a UTF-8, comma-separated CSV with '.' decimals, for which the caller's streaming
    text reader is used unchanged; `labels`: value labels per column ({code: label}, SPSS and
    Stata; the cells are read as the labels unless the format says otherwise);
    `column_labels`: the variables' descriptions (SAS, Stata, SPSS).
    """

    path: Path
    kind: str
    fmt: FileFormat
    header: list[str]
    detected: list[str] = field(default_factory=list)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    column_labels: dict[str, str] = field(default_factory=dict)
    name: str = ""
    _sheet: pd.DataFrame | None = field(default=None, repr=False)  # a workbook, read once

    @property
    def fast(self) -> bool:
        f = self.fmt
        return (
            self.kind == "csv"
            and f.delimiter == ","
            and f.decimal == "."
            and not f.thousands
            and f.encoding == "utf-8"
        )

    @property
    def typed(self) -> bool:
        return self.kind != "csv"

    def describe(self) -> str:
        """One line saying how the file is read, naming what was detected."""
        f = self.fmt
        if self.kind == "csv":
            parts = [
                f"delimiter {DELIMITERS.get(f.delimiter, f.delimiter)}",
                f"decimal {f.decimal!r}",
                f"encoding {f.encoding}",
            ]
            if f.thousands:
                parts.append(f"thousands {f.thousands!r}")
        elif self.kind == "excel":
            parts = [f"sheet {f.sheet!r}"]
        else:
            parts = [f"encoding {f.encoding}"] if f.encoding else []
        detected = f" (detected: {', '.join(self.detected)})" if self.detected else ""
        return (
            f"read {self.name} as {KIND_NAMES[self.kind]}"
            + (f": {', '.join(parts)}" if parts else "")
            + detected
        )

    def chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Data rows in chunks, columns named as in `header` (stripped)."""
        if self.kind == "csv":
            yield from _csv_chunks(self, chunk_rows)
        elif self.kind == "excel":
            frame = self._sheet if self._sheet is not None else _read_excel(self)
            for start in range(0, len(frame), chunk_rows):
                yield frame.iloc[start : start + chunk_rows]
        else:
            yield from _readstat_chunks(self, chunk_rows)

    def read(self) -> pd.DataFrame:
        """The whole table (row index 0-based)."""
        parts = list(self.chunks(1_000_000))
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=self.header)
        return frame


def open_export(path: str | Path, fmt: FileFormat | None = None, name: str | None = None) -> Export:
    """Open an export: its kind from the file name, the rest of its format from `fmt`, what
    `fmt` leaves out detected (and listed in `Export.detected`).

    Raises
    ------
    ExportFileError
        The file is missing or cannot be read as a table in the declared or detected format.
    """
    path = Path(path)
    name = name or str(path)
    fmt = fmt or FileFormat()
    if not path.exists():
        raise ExportFileError(f"cannot read {name}: No such file or directory")
    kind = kind_of(path)
    if kind == "csv":
        return _open_csv(path, fmt, name)
    if kind == "excel":
        return _open_excel(path, fmt, name)
    return _open_readstat(path, kind, fmt, name)


# --- CSV in any dialect -------------------------------------------------------------------


def _raw_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _open_csv(path: Path, fmt: FileFormat, name: str) -> Export:
    detected: list[str] = []
    try:
        with _raw_bytes(path) as handle:
            sample = handle.read(SAMPLE_BYTES)
            complete = not handle.read(1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ExportFileError(
            f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    encoding = fmt.encoding
    if encoding is None:
        encoding = _detect_encoding(sample, complete, name)
        if encoding != "utf-8":
            detected.append(f"encoding {encoding}, the file is not UTF-8")
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)
    except UnicodeDecodeError as exc:
        raise ExportFileError(
            f"{name} is not {encoding} text ({exc.reason} at byte "
            f"{exc.start}); declare its encoding in the mapping "
            "(file: {encoding: cp1252}, for example)"
        ) from exc
    text = text.lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut
    if not lines:
        raise ExportFileError(f"{name} is empty: expected a header row")
    delimiter = fmt.delimiter
    if delimiter is None:
        delimiter = _detect_delimiter(lines[:200])
        if delimiter != ",":
            detected.append(f"delimiter {DELIMITERS[delimiter]}")
    header = [c.strip() for c in next(csv.reader([lines[0]], delimiter=delimiter))]
    if len(header) == 1:
        likely = [d for d in DELIMITERS if d != delimiter and d in lines[0]]
        if likely:
            raise ExportFileError(
                f"{name}: the header was read as one column ({lines[0][:80]!r}) with the "
                f"delimiter {delimiter!r}; the delimiter is likely {likely[0]!r} (declare it "
                f"in the mapping: file: {{delimiter: {likely[0]!r}}})"
            )
    decimal = fmt.decimal
    if decimal is None:
        decimal = _detect_decimal(lines[1:200], delimiter)
        if decimal != ".":
            detected.append(f"decimal {decimal!r}")
    export = Export(
        path,
        "csv",
        FileFormat(delimiter, decimal, fmt.thousands, encoding),
        _check_header(header, name),
        detected,
        name=name,
    )
    return export


# The first bytes of files that are not text, named when one is read as a CSV.
_MAGIC = {
    b"PK\x03\x04": "a zip archive (an .xlsx or .ods workbook?)",
    b"\xd0\xcf\x11\xe0": "an OLE file (an .xls workbook?)",
}


def _detect_encoding(sample: bytes, complete: bool, name: str) -> str:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError as exc:
        reason = f"{exc.reason} at byte {exc.start}"
    if b"\x00" in sample:
        # Single-byte encodings would decode it into nonsense; say what it may be.
        what = next(
            (v for k, v in _MAGIC.items() if sample.startswith(k)),
            "UTF-16 text, or not text at all",
        )
        raise ExportFileError(
            f"{name} is not UTF-8 text ({reason}; NUL bytes: {what}). "
            "Name a workbook or statistics file with its extension (.xlsx, "
            ".sas7bdat, .dta, .sav); for UTF-16 text declare it in the "
            "mapping (file: {encoding: utf-16})"
        )
    for encoding in FALLBACK_ENCODINGS:
        try:
            sample.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"  # unreachable: latin-1 decodes every byte


def _detect_delimiter(lines: list[str]) -> str:
    """The candidate that splits the header into the most columns and every sampled line
    into as many (quotes respected); a comma when none splits anything."""
    best, best_width = ",", 1
    for candidate in DELIMITERS:
        widths = [len(r) for r in csv.reader(lines, delimiter=candidate)]
        if widths[0] > best_width and all(w == widths[0] for w in widths):
            best, best_width = candidate, widths[0]
    if best_width == 1:  # no candidate is consistent: the one giving the widest header
        widths = {c: len(next(csv.reader(lines[:1], delimiter=c))) for c in DELIMITERS}
        best = max(widths, key=widths.get) if max(widths.values()) > 1 else ","
    return best


_NUMBER = r"[+-]?\d+"


def _detect_decimal(lines: list[str], delimiter: str) -> str:
    """',' when numbers in the sample are written 12,5 and none 12.5 (never with a comma
    delimiter, where an unquoted decimal comma cannot be)."""
    if delimiter == "," or not lines:
        return "."
    cells = pd.Series([c.strip() for row in csv.reader(lines, delimiter=delimiter) for c in row])
    comma = cells.str.fullmatch(_NUMBER + r",\d+").sum()
    point = cells.str.fullmatch(_NUMBER + r"\.\d+").sum()
    return "," if comma and not point else "."


def _check_header(header: list[str], name: str) -> list[str]:
    seen, duplicates = set(), []
    for column in header:
        if column in seen:
            duplicates.append(column)
        seen.add(column)
    if duplicates:
        raise ExportFileError(f"{name}: duplicate columns: {', '.join(sorted(set(duplicates)))}")
    if "" in header:
        raise ExportFileError(f"{name}: column {header.index('') + 1} has no name")
    return header


def _csv_chunks(export: Export, chunk_rows: int) -> Iterator[pd.DataFrame]:
    f = export.fmt
    # Cells are read as text (codes keep their leading zeros); the dialect's numbers are
    # rewritten with a '.' decimal and no grouping, as the validation reads them.
    pattern = _number_pattern(f.decimal, f.thousands)
    with _raw_bytes(export.path) as raw, warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        handle = io.TextIOWrapper(
            raw, encoding="utf-8-sig" if f.encoding == "utf-8" else f.encoding, newline=""
        )
        reader = pd.read_csv(
            handle,
            sep=f.delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            chunksize=chunk_rows,
            engine="c",
            index_col=False,
        )
        try:
            for chunk in reader:
                chunk.columns = [str(c).strip() for c in chunk.columns]
                if pattern is not None:
                    for column in chunk.columns:
                        chunk[column] = _rewrite_numbers(chunk[column], pattern, f)
                yield chunk
        except pd.errors.ParserWarning as exc:
            raise ExportFileError(
                f"{export.name} is not a well-formed CSV: a row has more fields than the header"
            ) from exc
        except pd.errors.ParserError as exc:
            raise ExportFileError(f"{export.name} is not a well-formed CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ExportFileError(
                f"{export.name} is not {f.encoding} text ({exc.reason}); "
                "declare its encoding in the mapping (file: {encoding: "
                "...})"
            ) from exc


def _number_pattern(decimal: str, thousands: str | None) -> str | None:
    if decimal == "." and not thousands:
        return None
    group = "" if not thousands else (r"|\d{1,3}(?:" + _escape(thousands) + r"\d{3})+")
    return r"\s*[+-]?(?:\d+" + group + r")(?:" + _escape(decimal) + r"\d+)?\s*"


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def _rewrite_numbers(column: pd.Series, pattern: str, f: FileFormat) -> pd.Series:
    is_number = column.str.fullmatch(pattern)
    if not is_number.any():
        return column
    numbers = column[is_number]
    if f.thousands:
        numbers = numbers.str.replace(f.thousands, "", regex=False)
    if f.decimal != ".":
        numbers = numbers.str.replace(f.decimal, ".", regex=False)
    return column.where(~is_number, numbers)


# --- Excel --------------------------------------------------------------------------------


def _sheet_names(path: Path, name: str) -> list[str]:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path)).sheet_names
    except Exception as exc:  # calamine's own error types: not a workbook, encrypted, ...
        raise ExportFileError(f"cannot read {name} as a workbook: {exc}") from exc


def _open_excel(path: Path, fmt: FileFormat, name: str) -> Export:
    sheets = _sheet_names(path, name)
    detected = []
    sheet = fmt.sheet
    if sheet is None:
        sheet = sheets[0]
        if len(sheets) > 1:
            detected.append(
                f"the first of {len(sheets)} sheets ({', '.join(sheets)}); "
                "declare another with file: {sheet: NAME}"
            )
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(sheets):
            raise ExportFileError(
                f"{name}: no sheet {sheet} (0-based; the sheets are {', '.join(sheets)})"
            )
        sheet = sheets[sheet]
    elif sheet not in sheets:
        raise ExportFileError(f"{name}: no sheet {sheet!r} (the sheets are {', '.join(sheets)})")
    export = Export(path, "excel", FileFormat(sheet=sheet), [], detected, name=name)
    # Calamine parses a whole sheet even for its header: read it once, keep it for chunks().
    export._sheet = _read_excel(export)
    export.header = _check_header(list(export._sheet.columns), name)
    return export


def _read_excel(export: Export) -> pd.DataFrame:
    frame = pd.read_excel(export.path, sheet_name=export.fmt.sheet, engine="calamine")
    unnamed = [i for i, c in enumerate(frame.columns) if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise ExportFileError(
            f"{export.name}: column {unnamed[0] + 1} of sheet {export.fmt.sheet!r} has no name"
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return typed_cells(frame)


# --- SAS, Stata, SPSS ---------------------------------------------------------------------


def _readstat(kind: str):
    import pyreadstat

    return {
        "sas7bdat": pyreadstat.read_sas7bdat,
        "xport": pyreadstat.read_xport,
        "stata": pyreadstat.read_dta,
        "spss": pyreadstat.read_sav,
    }[kind]


def _open_readstat(path: Path, kind: str, fmt: FileFormat, name: str) -> Export:
    import pyreadstat

    options = {"encoding": fmt.encoding} if fmt.encoding else {}
    try:
        _, meta = _readstat(kind)(str(path), metadataonly=True, **options)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeDecodeError) as exc:
        raise ExportFileError(f"cannot read {name} as a {KIND_NAMES[kind]} file: {exc}") from exc
    labels = {
        column: {_code_text(code): str(label) for code, label in codes.items()}
        for column, codes in (meta.variable_value_labels or {}).items()
    }
    column_labels = {
        c: str(label) for c, label in (meta.column_names_to_labels or {}).items() if label
    }
    return Export(
        path,
        kind,
        FileFormat(encoding=fmt.encoding, value_labels=fmt.value_labels),
        _check_header([str(c).strip() for c in meta.column_names], name),
        [],
        labels,
        column_labels,
        name=name,
    )


def _readstat_chunks(export: Export, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyreadstat

    options = {"encoding": export.fmt.encoding} if export.fmt.encoding else {}
    chunks = pyreadstat.read_file_in_chunks(
        _readstat(export.kind),
        str(export.path),
        chunksize=chunk_rows,
        dates_as_pandas_datetime=True,
        **options,
    )
    try:
        for frame, _ in chunks:
            frame.columns = [str(c).strip() for c in frame.columns]
            frame = typed_cells(frame.reset_index(drop=True))
            if export.fmt.value_labels:
                for column, labels in export.labels.items():
                    # A code without a label stays the code.
                    frame[column] = (
                        frame[column]
                        .map(
                            lambda v, labels=labels: labels.get(_code_text(v), v),
                            na_action="ignore",
                        )
                        .astype(object)
                    )
            yield frame
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeDecodeError) as exc:
        raise ExportFileError(f"cannot read {export.name}: {exc}") from exc


# --- typed cells --------------------------------------------------------------------------


def _code_text(value) -> str:
    """A cell as the code a mapping names: whole numbers without '.0'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def typed_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as a typed reader gives them, made to read as the same codes a CSV would give:
    whole-number columns as integers (a code 4, not 4.0), blank text as missing; dates and
    other numbers untouched."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values.dtype):
            finite = values.dropna()
            if (
                len(finite)
                and np.all(np.mod(finite.to_numpy(), 1) == 0)
                and np.all(np.abs(finite.to_numpy()) < 2**53)
            ):
                values = values.astype("Int64")
        elif values.dtype == object:
            # Mixed columns (a workbook column of numbers and text): whole numbers as codes,
            # blank text as missing; each distinct cell looked at once.
            where, distinct = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
            cleaned = [
                None
                if isinstance(v, str) and not v.strip()
                else int(v)
                if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer()
                else v
                for v in distinct
            ]
            values = pd.Series(
                np.array(cleaned + [None], dtype=object)[where], index=values.index, dtype=object
            )
        out[column] = values
    return pd.DataFrame(out, index=frame.index)


def typed_dates(column: pd.Series) -> np.ndarray | None:
    """The cells of `column` that are dates (datetime64[ns], NaT elsewhere), or None when it
    holds no typed date (text, as in a CSV)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = column.dt.tz_localize(None) if getattr(column.dt, "tz", None) else column
        return values.to_numpy(dtype="datetime64[ns]")
    if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) in (
        "string",
        "empty",
        "integer",
        "floating",
        "mixed-integer-float",
    ):
        return None  # (one pass in C: a CSV's text columns cost nothing here)
    is_date = column.map(
        lambda v: (
            isinstance(v, (pd.Timestamp, np.datetime64))
            or hasattr(v, "year")
            and hasattr(v, "month")
        )
    ).to_numpy(bool)
    if not is_date.any():
        return None
    dates = np.full(len(column), np.datetime64("NaT"), dtype="datetime64[ns]")
    dates[is_date] = pd.to_datetime(column[is_date].astype(object)).to_numpy(dtype="datetime64[ns]")
    return dates


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed cells as the text a CSV holds ("" for missing, dates as YYYY-MM-DD, whole
    numbers without '.0', other numbers at full precision)."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            has_time = (values.dropna().dt.normalize() != values.dropna()).any()
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d")
        else:
            text = values.map(_cell_text, na_action="ignore")
        out[column] = text.where(values.notna(), "").astype(object)
    return pd.DataFrame(out, index=frame.index)


def _cell_text(value) -> str:
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        return (
            value.isoformat(sep=" ")
            if getattr(value, "hour", 0) or getattr(value, "minute", 0)
            else value.strftime("%Y-%m-%d")
        )
    return _code_text(value)
