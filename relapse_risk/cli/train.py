"""`train`: develop one model per landmark and register it."""

from __future__ import annotations

import time
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
    read_cohort_arg,
)


def train(
    cohort: Annotated[
        Path | None,
        typer.Option(
            help="Training cohort with outcomes: a stored cohort id (cNNNN) or a CSV, which is "
            "added to the registry's cohort store first (default: a synthetic cohort)."
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1000, help="Size of the default cohort.")] = 50000,
    seed: Annotated[int, typer.Option(help="Seed of the default cohort.")] = 20260101,
    registry: RegistryOption = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="Promote even when a production model exists.")
    ] = False,
    strategy: Annotated[
        Strategy,
        typer.Option(
            help="holdout: fit four families on 80%, pick on the 20% held out (large cohorts). "
            "resampling: fit on everyone, ridge penalty and trees-or-not by 5-fold "
            "cross-validation, optimism-corrected figures by bootstrap (cohorts of hundreds). "
            "auto: resampling below 5,000 patients."
        ),
    ] = Strategy.auto,
    bootstrap: Annotated[
        int,
        typer.Option(min=2, help="Resamples for the optimism correction (resampling strategy)."),
    ] = 200,
    mapping: MappingOption = None,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
) -> None:
    """Train one model per landmark, register it, and promote it if there is no production."""
    from model_registry.registry import Registry
    from training.cohort import synthetic_cohort
    from training.develop import DevelopmentError
    from training.progress import Stages
    from training.resampling import scheduler as cluster
    from training.train import develop_version, fit_summary

    start = time.perf_counter()
    data = (
        read_cohort_arg(cohort, mapping, registry, store_as=cohort.stem)
        if cohort
        else synthetic_cohort(n, seed)
    )
    reg = Registry(registry)
    stages = Stages("train")
    try:
        with cluster(scheduler, jobs) as workers:
            version, fits = develop_version(
                data,
                reg,
                strategy=strategy.value,
                bootstrap=bootstrap,
                assess_size=cohort is not None,
                stages=stages,
                say=lambda line: typer.echo(line, err=True),
                n_jobs=workers,
            )
    except DevelopmentError as exc:
        fail(str(exc), 2)
    stages.finish()
    for lm, fit in fits.items():
        typer.echo(fit_summary(lm, fit))
    if promote or reg.production() is None:
        reg.promote(version)
        typer.echo(
            f"registered and promoted {version} in {reg.root} ({time.perf_counter() - start:.0f} s)"
        )
    else:
        typer.echo(
            f"registered {version} as a candidate in {reg.root} (production stays "
            f"{reg.production()}; `relapse-risk registry promote {version}` to switch)"
        )
