"""Registry exports to canonical CSV (`relapse-risk import`): streaming chunks through the
mapping of `features.mapping`; every input row ends in the canonical file or the error file.
Any file `features.readers` reads (CSV in any dialect, Excel, SAS, Stata, SPSS) goes in."""
from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from batch.csv_scoring import (
    DEFAULT_CHUNK_ROWS,
    ERROR_COLUMNS,
    Summary,
    errors_path_for,
    open_source,
    source_chunks,
)
from features.mapping import Mapping, apply_mapping, canonical_table, mapped_columns
from model_registry.atomic import atomic_paths, refuse_overlap


def import_csv(source: str | Path, out: str | Path, mapping: Mapping, *,
               chunk_rows: int = DEFAULT_CHUNK_ROWS,
               progress: Callable[[int], None] | None = None,
               mapping_path: str | Path | None = None) -> Summary:
    """Write OUT (canonical columns, accepted rows) and OUT.errors.csv (row, field, value,
    error; one line per problem) from a registry export read through `mapping`.

    Both files are written under temporary names and renamed only once the whole export was
    read: a run that fails or is killed leaves earlier files as they were.

    Raises
    ------
    OutputPathError
        OUT or its error file is the export, the mapping file (`mapping_path`) or each other
        (checked before anything is read).
    """
    source, out = Path(source), Path(out)
    errors_out = errors_path_for(out)
    refuse_overlap({"the export": source, "the mapping": mapping_path},
                   {"--out": out, "the error file": errors_out})
    start = time.perf_counter()
    export = open_source(source, mapping)
    header = export.header
    mapping.check_header(header)
    columns = mapped_columns(mapping)
    summary = Summary(passed_through=[c for c in header if c not in mapping.source_columns()],
                      read_as=None if export.fast else export.describe())
    with atomic_paths(out, errors_out) as (out_tmp, errors_tmp), \
            open(out_tmp, "w", newline="", encoding="utf-8") as canonical_handle, \
            open(errors_tmp, "w", newline="", encoding="utf-8") as error_handle:
        csv.writer(canonical_handle, lineterminator="\n").writerow(columns)
        csv.writer(error_handle, lineterminator="\n").writerow(ERROR_COLUMNS)
        for chunk in source_chunks(export, chunk_rows):
            if chunk.empty:
                continue
            chunk.columns = [c.strip() for c in chunk.columns]
            first_row = summary.rows_read + 1
            chunk.index = pd.RangeIndex(first_row - 1, first_row - 1 + len(chunk))
            mapped = apply_mapping(chunk, mapping, first_row=first_row)
            canonical_table(mapped.frame, columns).to_csv(
                canonical_handle, header=False, index=False, lineterminator="\n")
            mapped.errors.to_csv(error_handle, header=False, index=False, lineterminator="\n")
            summary.rows_read += len(chunk)
            summary.scored += mapped.n_valid
            summary.rejected += len(chunk) - mapped.n_valid
            if progress:
                progress(len(chunk))
    summary.seconds = time.perf_counter() - start
    return summary
