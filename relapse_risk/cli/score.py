"""`score`: a CSV or registry export scored in streaming chunks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    Engine,
    Landmark,
    MappingOption,
    RegistryOption,
    WorkersOption,
    fail,
    mapping_file,
    output_error,
    workers_or_default,
)


def score(
    source: Annotated[
        Path,
        typer.Argument(
            help="Canonical CSV, or a registry export with --mapping (any file `import` reads)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Scored CSV; rejected rows go to OUT.errors.csv.")],
    landmark: Annotated[
        Landmark, typer.Option(help="Which model scores: auto picks by the fields each row has.")
    ] = Landmark.auto,
    chunk_size: Annotated[int, typer.Option(min=100, help="Rows per chunk.")] = 50000,
    pass_through: Annotated[
        bool,
        typer.Option("--pass-through", help="Keep non-canonical columns in the output, unused."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    engine: Annotated[
        Engine, typer.Option(help="local, or dask to score partitions on a Dask cluster.")
    ] = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (default: a local cluster of two workers)."),
    ] = None,
    registry: RegistryOption = None,
    mapping: MappingOption = None,
    workers: WorkersOption = None,
) -> None:
    """Score a registry CSV in streaming chunks (a registry export through --mapping).

    Exit status: 0 every row scored; 1 some rows rejected (see the error file); 2 nothing
    could be scored (unreadable file, bad header, unknown columns, no production model).
    """
    from tqdm import tqdm

    from batch.csv_scoring import (
        InputFileError,
        check_outputs,
        errors_path_for,
        score_csv,
        write_risk_plot,
    )
    from features.errors import SchemaError
    from features.mapping import MappingError
    from model_registry.atomic import OutputPathError
    from model_registry.registry import Registry, RegistryError
    from model_registry.scoring import ScoringModel

    if not source.exists():
        fail(f"{source} does not exist", 2)
    try:
        check_outputs(source, out, mapping)
    except OutputPathError as exc:
        fail(str(exc), 2)
    export_mapping = mapping_file(mapping)
    try:
        model = ScoringModel(Registry(registry).load(), bulk=True)
    except RegistryError as exc:
        fail(str(exc), 2)
    with tqdm(
        unit="rows", desc="scoring", disable=quiet or not sys.stderr.isatty(), unit_scale=True
    ) as bar:
        try:
            if engine == "dask":
                from batch.dask_engine import score_csv_dask

                reg = Registry(registry)
                summary = score_csv_dask(
                    source,
                    out,
                    reg.root.resolve(),
                    model.version,
                    landmark=landmark.value,
                    scheduler=scheduler,
                    pass_through_unknown=pass_through,
                    progress=bar.update,
                    mapping=export_mapping,
                    mapping_path=mapping,
                )
            else:
                summary = score_csv(
                    source,
                    out,
                    model,
                    landmark=landmark.value,
                    chunk_rows=chunk_size,
                    pass_through_unknown=pass_through,
                    progress=bar.update,
                    mapping=export_mapping,
                    mapping_path=mapping,
                    workers=workers_or_default(workers),
                )
        except (InputFileError, SchemaError, MappingError, OutputPathError) as exc:
            fail(str(exc), 2)
        except OSError as exc:
            output_error(exc, out)
    if summary.read_as:
        typer.echo(summary.read_as, err=True)
    plot = write_risk_plot(summary, Path(str(out) + ".risk_12m.png")) if summary.scored else None
    typer.echo(
        "\n".join([summary.line(), *summary.summary_lines()])
        + (f"\n12-month risk plot: {plot}" if plot else "")
        + f"\nscored rows: {out}\nrejected rows: {errors_path_for(out)} (one line per "
        "problem)",
        err=True,
    )
    raise typer.Exit(1 if summary.rejected else 0)
