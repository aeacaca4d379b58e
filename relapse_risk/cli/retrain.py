"""`retrain`: a challenger on an added cohort, through the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    JobsOption,
    MappingOption,
    RegistryOption,
    SchedulerOption,
    Strategy,
    fail,
    mapping_file,
    read_cohort_arg,
    report_rejected,
)


def retrain(
    cohort: Annotated[Path, typer.Option(help="New cohort CSV with outcomes.")],
    registry: RegistryOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation split.")] = 0,
    mapping: MappingOption = None,
    bootstrap: Annotated[
        int, typer.Option(min=20, help="Paired bootstrap resamples for the gate's intervals.")
    ] = 1000,
    strategy: Annotated[
        Strategy,
        typer.Option(
            help="How the challenger is developed: holdout, resampling, or auto (resampling "
            "below 5,000 patients, as train does)."
        ),
    ] = Strategy.auto,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
) -> None:
    """Add a cohort, train a challenger, promote it only if it is shown no worse than
    production (paired bootstrap intervals on patients neither was trained on)."""
    from features.errors import SchemaError
    from features.mapping import MappingError
    from model_registry.registry import Registry, RegistryError
    from training.updating.retrain import retrain as run

    new_cohort = cohort
    if cohort.exists() and _needs_reader(cohort, mapping):
        # read_cohort (training/) reads UTF-8 comma CSV: store the rows first, retrain by id.
        from model_registry.cohorts import CohortStore
        from training.cohort import store_cohort

        data = read_cohort_arg(cohort, mapping, registry)
        new_cohort, created = store_cohort(CohortStore(Registry(registry)), data, cohort.stem)
        typer.echo(
            f"cohort {'stored as' if created else 'already stored as'} {new_cohort}", err=True
        )
    from training.develop import DevelopmentError
    from training.progress import Stages
    from training.resampling import scheduler as cluster

    stages = Stages("retrain")
    try:
        with cluster(scheduler, jobs) as workers:
            result = run(
                new_cohort,
                Registry(registry),
                seed=seed,
                progress=stages.bars,
                mapping=mapping_file(mapping),
                n_boot=bootstrap,
                strategy=strategy.value,
                stages=stages,
                n_jobs=workers,
            )
    except (SchemaError, RegistryError, MappingError, FileNotFoundError, DevelopmentError) as exc:
        fail(str(exc), 2)
    report_rejected(result.rejected, result.n_new_rows, cohort, "new rows")
    typer.echo(result.decision.table())
    typer.echo(
        f"challenger {result.challenger} "
        + (
            f"promoted (was {result.champion})"
            if result.promoted
            else f"registered as a candidate; production stays {result.champion}"
        )
    )


def _needs_reader(path: Path, mapping_path: Path | None) -> bool:
    """Whether a file is anything but a UTF-8 comma CSV (read by `features.readers`)."""
    from features.readers import ExportFileError, open_export

    mapping = mapping_file(mapping_path)
    try:
        return not open_export(path, mapping.file if mapping is not None else None).fast
    except ExportFileError as exc:
        fail(str(exc), 2)
