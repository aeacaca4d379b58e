"""`import`: a registry export to canonical columns through a mapping."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    WorkersOption,
    fail,
    mapping_file,
    output_error,
    workers_or_default,
)


def import_export(
    source: Annotated[
        Path,
        typer.Argument(
            help="Registry export: CSV/TSV in any dialect "
            "(.csv, .tsv, .csv.gz), Excel (.xlsx, .xls, "
            ".ods), SAS (.sas7bdat, .xpt), Stata (.dta) "
            "or SPSS (.sav)."
        ),
    ],
    mapping: Annotated[
        Path,
        typer.Option(help="Mapping file (YAML) of the registry's columns, codes, units and dates."),
    ],
    out: Annotated[
        Path, typer.Option(help="Canonical CSV; rejected rows go to OUT.errors.csv.")
    ] = Path("canonical.csv"),
    chunk_size: Annotated[int, typer.Option(min=100, help="Rows per chunk.")] = 50000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    workers: WorkersOption = None,
) -> None:
    """Turn a registry export into canonical columns through a mapping file.

    Exit status: 0 every row accepted; 1 some rows rejected (see the error file); 2 nothing
    could be read (bad mapping, a mapped column absent from the export, unreadable file).
    """
    from tqdm import tqdm

    from batch.csv_import import import_csv
    from batch.csv_scoring import InputFileError, errors_path_for
    from features.mapping import MappingError
    from model_registry.atomic import OutputPathError, refuse_overlap

    if not source.exists():
        fail(f"{source} does not exist", 2)
    try:
        refuse_overlap(
            {"the export": source, "the mapping": mapping},
            {"--out": out, "the error file": errors_path_for(out)},
        )
    except OutputPathError as exc:
        fail(str(exc), 2)
    export_mapping = mapping_file(mapping)
    with tqdm(
        unit="rows", desc="importing", disable=quiet or not sys.stderr.isatty(), unit_scale=True
    ) as bar:
        try:
            summary = import_csv(
                source,
                out,
                export_mapping,
                chunk_rows=chunk_size,
                workers=workers_or_default(workers),
                progress=bar.update,
                mapping_path=mapping,
            )
        except (InputFileError, MappingError, OutputPathError) as exc:
            fail(str(exc), 2)
        except OSError as exc:
            output_error(exc, out)
    if summary.read_as:
        typer.echo(summary.read_as, err=True)
    unused = (
        f"\nexport columns not in the mapping (not imported): {', '.join(summary.passed_through)}"
        if summary.passed_through
        else ""
    )
    typer.echo(
        f"rows read {summary.rows_read}, accepted {summary.scored}, rejected "
        f"{summary.rejected} ({summary.seconds:.1f} s){unused}\ncanonical rows: {out}"
        f"\nrejected rows: {errors_path_for(out)} (one line per problem)",
        err=True,
    )
    raise typer.Exit(1 if summary.rejected else 0)
