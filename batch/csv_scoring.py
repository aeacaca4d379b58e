"""Batch scoring of registry CSVs: streaming chunks in, scored CSV and error file out.

Every input row ends up in exactly one place: the scored output (in input order, with every
input column) or the error file (one line per problem). The chunk scorer is shared by the
command line, the service's /score_csv and the Dask engine.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from batch.pipeline import run_in_order
from features.errors import FieldError, SchemaError
from features.mapping import Mapping, apply_mapping
from features.readers import Export, ExportFileError, as_text, open_export
from features.schema import AUTO, COLUMNS, EVENT_FREE_MONTHS, PREDICTORS, PROGRESSION_PREDICTORS
from features.text import NUL_STAND_IN
from features.validate import validate_frame
from model_registry.atomic import atomic_paths, refuse_overlap
from model_registry.scoring import (
    CAUSE_COLUMNS,
    CURE_COLUMN,
    DYNAMIC_COLUMNS,
    PROGRESSION_COLUMNS,
    PROGRESSION_NUMBER_COLUMNS,
    ScoringModel,
)

RESULT_COLUMNS = (
    "risk_6m",
    "risk_12m",
    "risk_24m",
    *CAUSE_COLUMNS,
    CURE_COLUMN,
    "risk_group",
    "landmark",
    "missing_predictors",
    "model_version",
)
_NUMBER_COLUMNS = frozenset(
    (
        "risk_6m",
        "risk_12m",
        "risk_24m",
        *CAUSE_COLUMNS,
        CURE_COLUMN,
        *DYNAMIC_COLUMNS,
        *PROGRESSION_NUMBER_COLUMNS,
    )
)
ERROR_COLUMNS = ("row", "field", "value", "error")
DEFAULT_CHUNK_ROWS = 50_000
RISK_GROUPS = ("low", "intermediate", "high")
# The summary's distribution of the 12-month risk: counts in bins of one percentage point
# (its quantiles are read to that resolution).
RISK_BINS = np.linspace(0.0, 1.0, 101)


class InputFileError(ValueError):
    """The file cannot be read as a CSV of canonical columns (empty, bad header, encoding)."""


@dataclass
class Summary:
    rows_read: int = 0
    scored: int = 0
    rejected: int = 0
    seconds: float = 0.0
    passed_through: list[str] = field(default_factory=list)
    read_as: str | None = None  # how a file other than a UTF-8 comma CSV was read
    risk_groups: dict[str, int] = field(default_factory=dict)
    risk_12m_counts: np.ndarray = field(
        default_factory=lambda: np.zeros(len(RISK_BINS) - 1, dtype=np.int64)
    )
    missing: dict[str, int] = field(default_factory=dict)

    def tally(self, scored: pd.DataFrame) -> None:
        """Add scored rows to the summary: risk groups, 12-month risk, missing predictors."""
        for group, count in scored["risk_group"].value_counts().items():
            self.risk_groups[group] = self.risk_groups.get(group, 0) + int(count)
        risk = pd.to_numeric(scored["risk_12m"], errors="coerce").to_numpy(float)
        self.risk_12m_counts += np.histogram(risk[np.isfinite(risk)], RISK_BINS)[0]
        for pattern, count in scored["missing_predictors"].value_counts().items():
            for name in filter(None, str(pattern).split(";")):
                self.missing[name] = self.missing.get(name, 0) + int(count)

    def add(self, part: Summary) -> None:
        """Count a chunk's summary (from `_ScoreJob`) into this one."""
        self.rows_read += part.rows_read
        self.scored += part.scored
        self.rejected += part.rejected
        for mine, theirs in ((self.risk_groups, part.risk_groups), (self.missing, part.missing)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        self.risk_12m_counts += part.risk_12m_counts

    def risk_12m_quantiles(self, quantiles=(0.1, 0.25, 0.5, 0.75, 0.9)) -> dict[float, float]:
        """Quantiles of the scored rows' 12-month risk (to the nearest percentage point)."""
        total = self.risk_12m_counts.sum()
        if not total:
            return {}
        cumulative = np.cumsum(self.risk_12m_counts) / total
        return {q: float(RISK_BINS[1:][np.searchsorted(cumulative, q)]) for q in quantiles}

    def summary_lines(self) -> list[str]:
        """What was scored, for the terminal: risk groups, the 12-month risk's distribution,
        how many scored rows lacked each predictor."""
        if not self.scored:
            return ["nothing scored"]
        groups = [g for g in RISK_GROUPS if g in self.risk_groups] + sorted(
            g for g in self.risk_groups if g not in RISK_GROUPS
        )
        lines = [
            "risk groups: "
            + ", ".join(
                f"{g} {self.risk_groups[g]} ({self.risk_groups[g] / self.scored:.0%})"
                for g in groups
            )
        ]
        q = self.risk_12m_quantiles()
        lines.append(
            "12-month risk: "
            + ", ".join(f"{int(k * 100)}th percentile {v:.0%}" for k, v in q.items())
        )
        missing = sorted(self.missing.items(), key=lambda kv: -kv[1])
        lines.append(
            "predictors missing (rows scored without them): "
            + (", ".join(f"{n} {c} ({c / self.scored:.0%})" for n, c in missing) or "none")
        )
        return lines

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        extra = (
            f"; columns passed through unused: {', '.join(self.passed_through)}"
            if self.passed_through
            else ""
        )
        return (
            f"rows read {self.rows_read}, scored {self.scored}, rejected {self.rejected}, "
            f"{self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s{extra}"
        )


def errors_path_for(out: str | Path) -> Path:
    out = Path(out)
    name = out.name[:-4] if out.name.endswith(".csv") else out.name
    return out.with_name(name + ".errors.csv")


def check_outputs(source: Path, out: Path, mapping_path: str | Path | None = None) -> None:
    """Refuse an OUT (or its error file) that is the input, the mapping or each other."""
    refuse_overlap(
        {"the input": source, "the mapping": mapping_path},
        {"--out": out, "the error file": errors_path_for(out)},
    )


class _NulVisible(io.TextIOWrapper):
    """Text in which a NUL is replaced by features.text.NUL_STAND_IN: pandas' C parser ends a
    cell at a NUL ('SYN3\\0-0000005' would be read as 'SYN3'), so the cell reaches
    validation whole and is rejected there as holding a control character."""

    def read(self, size=-1):
        text = super().read(size)
        return text.replace("\0", NUL_STAND_IN) if "\0" in text else text

    def readline(self, size=-1):
        text = super().readline(size)
        return text.replace("\0", NUL_STAND_IN) if "\0" in text else text

    def __next__(self):
        text = super().__next__()
        return text.replace("\0", NUL_STAND_IN) if "\0" in text else text


def _open_text(path: Path) -> io.TextIOBase:
    """UTF-8 text (a BOM is dropped), gzip when the name ends in .gz; newlines as written;
    NUL made visible (see _NulVisible)."""
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    return _NulVisible(raw, encoding="utf-8-sig", newline="")


def read_header(path: Path, name: str | None = None) -> list[str]:
    """The header row, checked: not empty, no duplicate or blank names. Messages call the
    file `name` (default: its path)."""
    name = name or str(path)
    try:
        with _open_text(path) as handle:
            for record in csv.reader(handle):
                if any(cell.strip() for cell in record):
                    return _check_header([cell.strip() for cell in record])
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # strerror, not str(exc): the latter repeats the path.
        reason = getattr(exc, "strerror", None) or str(exc).replace(str(path), name)
        raise InputFileError(f"cannot read {name}: {reason}") from exc
    raise InputFileError(f"{name} is empty: expected a header row of canonical columns")


def _check_header(header: list[str]) -> list[str]:
    seen, duplicates = set(), []
    for name in header:
        if name in seen:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        raise InputFileError(f"duplicate columns: {', '.join(sorted(set(duplicates)))}")
    if "" in header:
        raise InputFileError(f"column {header.index('') + 1} has no name")
    return header


def iter_chunks(path: Path, chunk_rows: int, name: str | None = None) -> Iterator[pd.DataFrame]:
    """Data rows as strings ("" for blank cells), blank lines skipped, in chunks.

    A row with fewer fields than the header is read with the missing trailing cells blank
    (unknown); a row with more is an error. Messages call the file `name` (default: its path).
    """
    name = name or str(path)
    with _open_text(path) as handle, warnings.catch_warnings():
        # A row with more fields than the header must not lose data: make it an error.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        reader = pd.read_csv(
            handle,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            chunksize=chunk_rows,
            engine="c",
            index_col=False,
        )
        try:
            yield from reader
        except pd.errors.ParserWarning as exc:
            raise InputFileError(
                f"{name} is not a well-formed CSV: a row has more fields than the header"
            ) from exc
        except pd.errors.ParserError as exc:
            raise InputFileError(f"{name} is not a well-formed CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{name} is not UTF-8 text ({exc.reason})") from exc


def result_columns(header: list[str], mapping: Mapping | None = None) -> tuple[str, ...]:
    """The columns scoring appends: the dynamic ones too when the input gives
    event_free_months (a patient still in remission then), the progression landmark's when
    it gives a field at progression."""
    names = set(mapping.columns) if mapping is not None else set(header)
    columns = (*RESULT_COLUMNS, *DYNAMIC_COLUMNS) if EVENT_FREE_MONTHS in names else RESULT_COLUMNS
    if names & set(PROGRESSION_PREDICTORS):
        columns = (*columns, *PROGRESSION_COLUMNS)
    return columns


def score_chunk(
    chunk: pd.DataFrame,
    model: ScoringModel,
    first_row: int,
    landmark: str = AUTO,
    pass_through: tuple[str, ...] = (),
    mapping: Mapping | None = None,
    columns: tuple[str, ...] = RESULT_COLUMNS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one chunk of raw rows (a registry export's own columns when `mapping` is given).

    Returns
    -------
    (scored, errors)
        scored: the valid input rows (all input columns, as read) with `row` first and the
        result columns after; errors: row, field, value, error for the others.
    """
    if mapping is not None:
        result = apply_mapping(chunk, mapping, outcomes=False, first_row=first_row)
    else:
        canonical = chunk.drop(columns=list(pass_through))
        result = validate_frame(canonical, first_row=first_row, allow_outcomes=True)
    valid = result.frame
    scores = model.score(valid, landmark=landmark, with_contributions=False)
    scored = chunk.loc[valid.index].copy()
    scored.insert(0, "row", valid.index - chunk.index[0] + first_row)
    for column in columns:
        values = (
            scores[column] if column in scores.columns else pd.Series(np.nan, index=scores.index)
        )
        if column == "missing_predictors":
            # The lists are shared per pattern of missingness: join each pattern once.
            lists = values.to_numpy(dtype=object)
            where, patterns = pd.factorize(np.fromiter(map(id, lists), np.int64, len(lists)))
            first = np.unique(where, return_index=True)[1]
            values = (
                np.array([";".join(lists[i]) for i in first] or [""], dtype=object)[where]
                if len(lists)
                else lists
            )
        elif column in _NUMBER_COLUMNS:
            # Six decimals, formatted here (to_csv's per-float repr costs about a third of
            # the whole write). Blank when the version has no model of the causes.
            values = format_decimals(values.to_numpy(dtype=float))
        scored[column] = values.to_numpy() if isinstance(values, pd.Series) else values
    return scored, result.errors


_DIGITS = 6
_SCALE = 10.0**_DIGITS
# Where x * 1e6 (exact to ~1e-9 below 10) could round to the other side of a tie, the
# digits are left to Python's correctly rounded formatting.
_TIE_MARGIN = 1e-7


def format_decimals(numbers: np.ndarray) -> np.ndarray:
    """Each number as "{:.6f}".format would write it ("" for NaN), as an object array.

    Numbers in [0, 10) (risks and probabilities: nearly every cell) are written digit by
    digit with numpy, several times faster than formatting each float in Python; any
    other value, and any value within rounding error of a tie, goes through str.format.
    A test holds the two equal.
    """
    x = np.asarray(numbers, dtype=float)
    out = np.full(x.shape, "", dtype=object)
    with np.errstate(invalid="ignore"):
        scaled = x * _SCALE
        fast = (
            (x >= 0)
            & (x < 10 - 0.5 / _SCALE)
            & ~np.signbit(x)
            & (np.abs(scaled - np.floor(scaled) - 0.5) > _TIE_MARGIN)
        )
    where = np.flatnonzero(fast)
    if where.size:
        units = np.rint(scaled[where]).astype(np.int64)
        chars = np.empty((where.size, _DIGITS + 2), dtype=np.uint8)
        chars[:, 1] = ord(".")
        for position in range(_DIGITS + 1, 1, -1):
            units, digit = np.divmod(units, 10)
            chars[:, position] = digit + ord("0")
        chars[:, 0] = units + ord("0")
        out[where] = chars.view(f"S{_DIGITS + 2}").ravel().astype(f"U{_DIGITS + 2}")
    slow = np.flatnonzero(~fast & ~np.isnan(x))
    if slow.size:
        out[slow] = list(map("{:.6f}".format, x[slow].tolist()))
    return out


# A cell csv.writer (QUOTE_MINIMAL, "," and "\n") would quote.
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def write_rows(handle, frame: pd.DataFrame) -> None:
    """Rows of a frame of strings and integers (no NaN: cells are read as text), written to
    a text handle as DataFrame.to_csv would with its defaults ("\\n" line ends).

    Each column is looked at once for a character that needs quoting; only such a column's
    cells are quoted one by one. The rows are then joined in C (str.join), several times
    faster than csv.writer's per-cell checks.
    """
    if frame.empty:
        return
    columns = []
    for name in frame.columns:
        cells = frame[name].to_numpy()
        if cells.dtype != object:
            cells = cells.astype(str).astype(object)
        else:
            try:
                joined = "".join(cells)
            except TypeError:  # not all text: written as csv.writer would write them
                cells = np.array(["" if c is None else str(c) for c in cells], dtype=object)
                joined = "".join(cells)
            if _NEEDS_QUOTES.search(joined) is not None:
                cells = np.array([_quote(c) for c in cells], dtype=object)
        columns.append(cells)
    handle.write("\n".join(map(",".join, zip(*columns))))
    handle.write("\n")


def _quote(cell: str) -> str:
    if _NEEDS_QUOTES.search(cell) is None:
        return cell
    return '"' + cell.replace('"', '""') + '"'


def open_source(source: Path, mapping: Mapping | None = None, name: str | None = None) -> Export:
    """How a file is read (CSV in any dialect, Excel, SAS, Stata, SPSS): the mapping's `file:`
    section, the rest detected. A UTF-8 comma CSV keeps the streaming reader of this module."""
    try:
        export = open_export(source, mapping.file if mapping is not None else None, name)
    except ExportFileError as exc:
        raise InputFileError(str(exc)) from exc
    if export.fast:
        export.header = read_header(Path(source), name)
    return export


def source_chunks(
    export: Export, chunk_rows: int, name: str | None = None
) -> Iterator[pd.DataFrame]:
    """`iter_chunks` for a UTF-8 comma CSV, else the export's own reader (typed cells)."""
    if export.fast:
        yield from iter_chunks(export.path, chunk_rows, name)
        return
    try:
        yield from export.chunks(chunk_rows)
    except ExportFileError as exc:
        raise InputFileError(str(exc)) from exc


def check_columns(
    source: Path,
    pass_through_unknown: bool,
    name: str | None = None,
    mapping: Mapping | None = None,
    export: Export | None = None,
) -> tuple[list[str], list[str]]:
    """The header and its non-canonical columns (with a mapping: the columns it does not
    read); raise if they cannot be scored as asked. A file without a mapping in which no
    column is a canonical predictor is refused: scoring it would give every row the risk of
    a patient of whom nothing is known."""
    header = export.header if export is not None else read_header(source, name)
    if "row" in header:
        raise InputFileError(
            "the input has a column named 'row', which the output uses for "
            "the input row number; rename it"
        )
    if mapping is not None:
        mapping.check_header(header)
        return header, [c for c in header if c not in mapping.source_columns()]
    unknown = [c for c in header if c not in COLUMNS]
    target = source if name is None else "FILE"
    then = (
        "then score with --mapping"
        if name is None
        else "then store it with `relapse-risk "
        "mapping add` and name it in the request's `mapping` field"
    )
    advice = (
        f"a registry export needs a mapping of its columns (`relapse-risk mapping draft "
        f"{target}` writes a first one; {then})"
    )
    has_predictor = any(c in PREDICTORS for c in header)
    if unknown and not pass_through_unknown:
        reason = (
            "not a canonical column; rename it, drop it, or pass --pass-through to keep it unused"
            if has_predictor
            else "not a canonical column, and no column of "
            f"the file is a canonical predictor: {advice}"
        )
        # (Said once, on the first: a 200-column export would repeat it 200 times.)
        raise SchemaError(
            [
                FieldError(
                    None, c, "", reason if i == 0 or has_predictor else "not a canonical column"
                )
                for i, c in enumerate(unknown)
            ]
        )
    if not has_predictor:
        raise InputFileError(
            f"{name or source}: none of its columns is a canonical predictor "
            f"({', '.join(PREDICTORS[:4])}, ...), so every row would be scored as a patient "
            f"of whom nothing is known; {advice}"
        )
    return header, unknown


def write_risk_plot(summary: Summary, path: str | Path) -> Path:
    """A small histogram of the scored rows' 12-month risk (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6), dpi=100)
    ax.bar(RISK_BINS[:-1] * 100, summary.risk_12m_counts, width=1.0, align="edge", color="#4a6fa5")
    ax.set_xlabel("risk of a PFS event by 12 months (%)")
    ax.set_ylabel("rows")
    ax.set_title(f"{summary.scored} rows scored", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    fig.savefig(partial, format="png")
    plt.close(fig)
    partial.replace(path)  # complete or absent, never half a picture
    return path


def numbered_chunks(
    chunks: Iterator[pd.DataFrame], as_read: bool
) -> Iterator[tuple[pd.DataFrame, int]]:
    """Non-empty chunks, indexed by position in the file, with their first row number;
    `as_read`: a canonical workbook's typed cells made text, as its CSV would be read."""
    read = 0
    for chunk in chunks:
        if chunk.empty:
            continue
        chunk.columns = [c.strip() for c in chunk.columns]
        chunk.index = pd.RangeIndex(read, read + len(chunk))
        if as_read:
            chunk = as_text(chunk)
        yield chunk, read + 1
        read += len(chunk)


@dataclass
class _ScoreJob:
    """What `score_csv` does to one chunk beside the reading and writing (`batch.pipeline`):
    score it, count it, and write its rows as CSV text. Returns (text, errors, summary of
    the chunk)."""

    model: ScoringModel
    landmark: str
    pass_through: tuple[str, ...]
    mapping: Mapping | None
    columns: tuple[str, ...]
    header: list[str]
    typed: bool

    def __call__(self, chunk: pd.DataFrame, first_row: int) -> tuple[str, pd.DataFrame, Summary]:
        scored, errors = score_chunk(
            chunk,
            self.model,
            first_row,
            self.landmark,
            self.pass_through,
            self.mapping,
            self.columns,
        )
        part = Summary(rows_read=len(chunk), scored=len(scored), rejected=len(chunk) - len(scored))
        part.tally(scored)
        if self.typed:  # the export's own columns, written as text
            scored[self.header] = as_text(scored[self.header])
        text = io.StringIO()
        write_rows(text, scored)
        return text.getvalue(), errors, part


def score_csv(
    source: str | Path,
    out: str | Path,
    model: ScoringModel,
    *,
    landmark: str = AUTO,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    pass_through_unknown: bool = False,
    progress: Callable[[int], None] | None = None,
    name: str | None = None,
    mapping: Mapping | None = None,
    mapping_path: str | Path | None = None,
    workers: int = 1,
) -> Summary:
    """Score a CSV file in streaming chunks; write OUT and OUT.errors.csv.

    Chunks are scored beside the reading and writing (`batch.pipeline`): on a thread with
    `workers` 1 (the default, and the service's case), else in that many forked processes;
    the files are the same either way, in input order.

    `name` is what messages call the input (default: its path), e.g. "the upload" for a file
    the service spooled to a temporary path of its own. Both outputs are written under
    temporary names and renamed once the whole input was read, so a failed or killed run
    leaves earlier files as they were.

    Raises
    ------
    OutputPathError
        OUT or its error file is the input, the mapping file or each other (checked first).
    InputFileError
        Nothing could be read (empty file, bad header, not UTF-8, malformed CSV).
    SchemaError
        Unknown columns (unless passed through) or other table-level problems.
    MappingError
        `mapping` names a column the file does not have.
    """
    source, out = Path(source), Path(out)
    errors_out = errors_path_for(out)
    check_outputs(source, out, mapping_path)
    start = time.perf_counter()
    export = open_source(source, mapping, name)
    header, unknown = check_columns(source, pass_through_unknown, name, mapping, export)
    summary = Summary(passed_through=unknown, read_as=None if export.fast else export.describe())
    with (
        atomic_paths(out, errors_out) as (out_tmp, errors_tmp),
        open(out_tmp, "w", newline="", encoding="utf-8") as scored_handle,
        open(errors_tmp, "w", newline="", encoding="utf-8") as error_handle,
    ):
        columns = result_columns(header, mapping)
        scored_header = ["row", *header, *columns]
        csv.writer(scored_handle, lineterminator="\n").writerow(scored_header)
        csv.writer(error_handle, lineterminator="\n").writerow(ERROR_COLUMNS)
        job = _ScoreJob(model, landmark, tuple(unknown), mapping, columns, header, export.typed)
        for text, errors, part in run_in_order(
            job,
            numbered_chunks(
                source_chunks(export, chunk_rows, name), export.typed and mapping is None
            ),
            workers,
        ):
            scored_handle.write(text)
            errors.to_csv(error_handle, header=False, index=False, lineterminator="\n")
            summary.add(part)
            if progress:
                progress(part.rows_read)
    summary.seconds = time.perf_counter() - start
    return summary
