"""Registry exports to canonical CSV (`relapse-risk import`): streaming chunks through the
mapping of `features.mapping`; every input row ends in the canonical file or the error file.
Any file `features.readers` reads (CSV in any dialect, Excel, SAS, Stata, SPSS) goes in."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from batch.csv_scoring import (
    DEFAULT_CHUNK_ROWS,
    ERROR_COLUMNS,
    Summary,
    errors_path_for,
    numbered_chunks,
    open_source,
    source_chunks,
    write_rows,
)
from batch.pipeline import run_in_order
from features.mapping import Mapping, apply_mapping, mapped_columns
from features.schema import FIELDS_BY_NAME
from model_registry.atomic import atomic_paths, refuse_overlap


def import_csv(
    source: str | Path,
    out: str | Path,
    mapping: Mapping,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    mapping_path: str | Path | None = None,
    workers: int = 1,
) -> Summary:
    """Write OUT (canonical columns, accepted rows) and OUT.errors.csv (row, field, value,
    error; one line per problem) from a registry export read through `mapping`.

    Chunks are mapped beside the reading and writing (`batch.pipeline`: on a thread with
    `workers` 1, else in that many forked processes) and written in input order. Both files
    are written under temporary names and renamed only once the whole export was read: a
    run that fails or is killed leaves earlier files as they were.

    Raises
    ------
    OutputPathError
        OUT or its error file is the export, the mapping file (`mapping_path`) or each other
        (checked before anything is read).
    """
    source, out = Path(source), Path(out)
    errors_out = errors_path_for(out)
    refuse_overlap(
        {"the export": source, "the mapping": mapping_path},
        {"--out": out, "the error file": errors_out},
    )
    start = time.perf_counter()
    export = open_source(source, mapping)
    header = export.header
    mapping.check_header(header)
    columns = mapped_columns(mapping)
    summary = Summary(
        passed_through=[c for c in header if c not in mapping.source_columns()],
        read_as=None if export.fast else export.describe(),
    )
    with (
        atomic_paths(out, errors_out) as (out_tmp, errors_tmp),
        open(out_tmp, "w", newline="", encoding="utf-8") as canonical_handle,
        open(errors_tmp, "w", newline="", encoding="utf-8") as error_handle,
    ):
        csv.writer(canonical_handle, lineterminator="\n").writerow(columns)
        csv.writer(error_handle, lineterminator="\n").writerow(ERROR_COLUMNS)
        job = _ImportJob(mapping, columns)
        for text, errors, n_rows, n_valid in run_in_order(
            job, numbered_chunks(source_chunks(export, chunk_rows), as_read=False), workers
        ):
            canonical_handle.write(text)
            errors.to_csv(error_handle, header=False, index=False, lineterminator="\n")
            summary.rows_read += n_rows
            summary.scored += n_valid
            summary.rejected += n_rows - n_valid
            if progress:
                progress(n_rows)
    summary.seconds = time.perf_counter() - start
    return summary


@dataclass
class _ImportJob:
    """One chunk through the mapping: (canonical rows as CSV text, errors, rows, accepted)."""

    mapping: Mapping
    columns: list[str]

    def __call__(self, chunk: pd.DataFrame, first_row: int) -> tuple[str, pd.DataFrame, int, int]:
        mapped = apply_mapping(chunk, self.mapping, first_row=first_row)
        text = io.StringIO()
        write_rows(text, canonical_text(mapped.frame, self.columns))
        return text.getvalue(), mapped.errors, len(chunk), mapped.n_valid


def canonical_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The cells `features.mapping.canonical_table(frame, columns).to_csv()` writes, as text
    ("" = unknown), each column converted at once by numpy; a test holds the two equal.
    Integers without decimals, numbers rounded to 6 decimals (shortest repr), categories
    and strings as they are."""
    out = {}
    for name in columns:
        kind = FIELDS_BY_NAME[name].kind
        values = frame[name].to_numpy()
        if kind in ("integer", "number"):
            numbers = values.astype(float)
            known = ~np.isnan(numbers)
            text = np.full(len(numbers), "", dtype=object)
            if kind == "integer":
                text[known] = numbers[known].astype(np.int64).astype(str)
            else:
                text[known] = np.round(numbers[known], 6).astype(str)
        else:
            text = np.where(pd.isna(values), "", values).astype(object)
        out[name] = text
    return pd.DataFrame(out, index=frame.index, columns=columns)
