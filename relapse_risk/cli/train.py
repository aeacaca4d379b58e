"""`train`: develop one model per landmark and register it."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    MappingOption,
    RegistryOption,
    fail,
    read_cohort_arg,
)


def train(
    cohort: Annotated[Path | None, typer.Option(
        help="Training cohort with outcomes: a stored cohort id (cNNNN) or a CSV, which is "
             "added to the registry's cohort store first (default: a synthetic cohort).")
                              ] = None,
    n: Annotated[int, typer.Option("--n", min=1000, help="Size of the default cohort.")] = 50000,
    seed: Annotated[int, typer.Option(help="Seed of the default cohort.")] = 20260101,
    registry: RegistryOption = None,
    promote: Annotated[bool, typer.Option(
        "--promote", help="Promote even when a production model exists.")] = False,
    strategy: Annotated[str, typer.Option(
        help="holdout: fit four families on 80%, pick on the 20% held out (large cohorts). "
             "resampling: fit on everyone, ridge penalty and trees-or-not by 5-fold "
             "cross-validation, optimism-corrected figures by bootstrap (cohorts of hundreds). "
             "auto: resampling below 5,000 patients.")] = "auto",
    bootstrap: Annotated[int, typer.Option(
        min=2, help="Resamples for the optimism correction (resampling strategy).")] = 200,
    mapping: MappingOption = None,
) -> None:
    """Train one model per landmark, register it, and promote it if there is no production."""
    from features.schema import LANDMARKS
    from model_registry.registry import Registry
    from training.cohort import synthetic_cohort
    from training.develop import RESAMPLING_BELOW_N, STRATEGIES, DevelopmentError, develop_landmark
    from training.train import train_version

    if strategy not in STRATEGIES:
        fail(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", 2)
    start = time.perf_counter()
    data = (read_cohort_arg(cohort, mapping, registry, store_as=cohort.stem) if cohort
            else synthetic_cohort(n, seed))
    reg = Registry(registry)
    sizes = {}
    if cohort:
        from training.samplesize import advice, assess_cohort

        sizes = assess_cohort(data.frame)
        for lm, (n_patients, size) in sizes.items():
            typer.echo(advice(lm, n_patients, size), err=True)
    if strategy == "auto":
        strategy = "resampling" if len(data.frame) < RESAMPLING_BELOW_N else "holdout"
    from training.progress import Stages

    stages = Stages("train")
    fits = None
    if strategy == "resampling":
        typer.echo(f"{len(data.frame)} patients: developing by resampling ({bootstrap} "
                   "bootstrap resamples per landmark)", err=True)
        fits = {}
        try:
            for lm in LANDMARKS:
                with stages.stage(f"{lm}: develop by resampling"):
                    fits[lm] = develop_landmark(data, lm, bootstrap=bootstrap,
                                                progress=stages.bars)
        except DevelopmentError as exc:
            fail(str(exc), 2)
    with stages.stage("fit, export and register" if fits is None else "export and register"):
        version, fits = train_version(data, reg, progress=stages.bars, landmark_fits=fits,
                                      extra_metadata={"sample_size": {
                                          lm: size.as_dict() for lm, (_, size) in sizes.items()}}
                                      if sizes else None)
    stages.finish()
    for lm, fit in fits.items():
        m = fit.metrics[fit.champion]
        if fit.development is None:
            typer.echo(f"{lm:9} champion {fit.champion:9}  Uno C {m['uno_c']:.3f}  "
                       f"AUC12 {m['auc_12m']:.3f}  IBS {m['integrated_brier']:.3f}  "
                       f"slope12 {m['calibration_slope_12m']:.2f}  ({fit.reason})")
            continue
        o = fit.development["optimism"]
        typer.echo(f"{lm:9} {fit.champion:9} on {fit.n_train} patients  Harrell C "
                   f"{o['harrell_c']['apparent']:.3f} apparent, "
                   f"{o['harrell_c']['corrected']:.3f} optimism-corrected  slope12 "
                   f"{o['calibration_slope_12m']['apparent']:.2f} apparent, "
                   f"{o['calibration_slope_12m']['corrected']:.2f} corrected  ({fit.reason})")
    if promote or reg.production() is None:
        reg.promote(version)
        typer.echo(f"registered and promoted {version} in {reg.root} "
                   f"({time.perf_counter() - start:.0f} s)")
    else:
        typer.echo(f"registered {version} as a candidate in {reg.root} (production stays "
                   f"{reg.production()}; `relapse-risk registry promote {version}` to switch)")

