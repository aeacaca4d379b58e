"""`recalibrate`: update a version to a new population."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    JobsOption,
    MappingOption,
    Method,
    RegistryOption,
    SchedulerOption,
    fail,
    read_cohort_arg,
)


def recalibrate(
    cohort: Annotated[
        Path,
        typer.Option(
            help="Cohort with outcomes from the new population: a CSV or a stored cohort id."
        ),
    ],
    version: Annotated[
        str | None, typer.Option(help="Version to update (default: production).")
    ] = None,
    method: Annotated[
        Method,
        typer.Option(
            help="intercept (the relapse hazard's level), slope (its slope and level), horizons "
            "(a level at each of 6, 12 and 24 months) or auto (the smallest of these the "
            "data support)."
        ),
    ] = "auto",
    update_fraction: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=0.9,
            help="Share of the first fold of the two-fold cross-fitting that "
            "assesses the update (the update itself uses every row).",
        ),
    ] = 0.5,
    bootstrap: Annotated[
        int, typer.Option(min=20, help="Bootstrap resamples for the report's intervals.")
    ] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the split and the bootstrap.")] = 0,
    registry: RegistryOption = None,
    mapping: MappingOption = None,
    gate_bootstrap: Annotated[
        int, typer.Option(min=200, help="Paired bootstrap resamples for the gate's intervals.")
    ] = 1000,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
) -> None:
    """Update a model to a new population without refitting its predictors; the result is a
    new version, promoted only if the parent is production and the gate passes on patients
    neither it nor the update has seen."""
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry, RegistryError
    from training.evaluation.external_validation import ValidationError
    from training.progress import Stages
    from training.resampling import scheduler as cluster
    from training.updating.recalibrate import recalibrate as run

    # Stored first, so its rows keep their keys (cNNNN/row) in every later gate's lineage.
    data = read_cohort_arg(cohort, mapping, registry, store_as=cohort.stem)
    reg = Registry(registry)
    stages = Stages("recalibrate")
    try:
        with cluster(scheduler, jobs) as workers:
            result = run(
                reg,
                data,
                version=version,
                method=method.value,
                update_fraction=update_fraction,
                seed=seed,
                n_boot=bootstrap,
                gate_bootstrap=gate_bootstrap,
                progress=stages.bars,
                stages=stages,
                store=CohortStore(reg),
                n_jobs=workers,
            )
    except (RegistryError, ValidationError) as exc:
        fail(str(exc), 2)
    for lm, u in result.updates.items():
        b, a = result.before[lm].figures, result.after[lm].figures
        typer.echo(
            f"{lm:9} {u.method:9} slope {u.slope:.3f}  O/E 12m "
            f"{b['observed_expected_12m']['estimate']:.2f} -> "
            f"{a['observed_expected_12m']['estimate']:.2f}  cal. slope 12m "
            f"{b['calibration_slope_12m']['estimate']:.2f} -> "
            f"{a['calibration_slope_12m']['estimate']:.2f}  ({u.reason})"
        )
    typer.echo(result.decision.table())
    typer.echo(
        f"registered {result.version} (parent {result.parent}); "
        + (
            "promoted to production"
            if result.promoted
            else f"not promoted (`relapse-risk registry promote {result.version}` to switch)"
        )
        + f"; report: relapse-risk registry show {result.version}"
    )
