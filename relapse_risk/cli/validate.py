"""`validate`: external validation of a version on the user's cohort."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    JobsOption,
    MappingOption,
    RegistryOption,
    SchedulerOption,
    fail,
    read_cohort_arg,
    write_files,
)


def validate(
    cohort: Annotated[
        Path,
        typer.Option(
            help="Cohort with outcomes: a CSV (canonical, or an "
            "export with --mapping) or a stored cohort id."
        ),
    ],
    version: Annotated[str | None, typer.Option(help="Version (default: production).")] = None,
    registry: RegistryOption = None,
    out: Annotated[
        Path, typer.Option(help="Folder for validation.md, validation.json and the plots.")
    ] = Path("validation"),
    bootstrap: Annotated[
        int, typer.Option(min=20, help="Bootstrap resamples for the 95% intervals.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    mapping: MappingOption = None,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="A column of the file (not canonical, e.g. the export's centre) to validate each "
            "group by, with a random-effects summary across groups and a forest plot."
        ),
    ] = None,
) -> None:
    """External validation of a registered model on your cohort: discrimination, calibration,
    Brier scores, decision curve and case-mix, each figure with a bootstrap 95% interval."""
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry, RegistryError
    from model_registry.scoring import ScoringModel
    from training.evaluation.external_validation import (
        ValidationError,
        case_mix,
        development_frame,
        report_files,
        risk_distribution,
        validate_model,
    )

    try:
        scoring = ScoringModel(Registry(registry).load(version))
    except RegistryError as exc:
        fail(str(exc), 2)
    from training.progress import Stages
    from training.resampling import scheduler as cluster

    data = read_cohort_arg(cohort, mapping, registry, keep=(by,) if by else ())
    stages = Stages("validate")
    by_group = None
    try:
        with cluster(scheduler, jobs) as workers:
            results = validate_model(
                scoring,
                data.frame,
                bootstrap,
                seed,
                progress=stages.bars,
                n_jobs=workers,
                stages=stages,
            )
            if by:
                from training.evaluation.centres import validate_by

                by_group = validate_by(
                    scoring,
                    data.frame,
                    by,
                    n_boot=bootstrap,
                    seed=seed,
                    n_jobs=workers,
                    stages=stages,
                )
    except ValidationError as exc:
        fail(str(exc), 2)
    development = development_frame(scoring.metadata, CohortStore(Registry(registry)))
    files = report_files(
        results,
        version=scoring.version,
        cohort=data.description,
        n_boot=bootstrap,
        mix=None if development is None else case_mix(development, data.frame),
        risks=risk_distribution(scoring, data.frame),
        development_risks=None if development is None else risk_distribution(scoring, development),
        notice=scoring.metadata.get("notice", ""),
        by_group=by_group,
    )
    write_files(out, files)
    for lm, r in results.items():
        f = r.figures
        typer.echo(
            f"{lm:9} n {r.n:5}  Harrell C {f['harrell_c']['estimate']:.3f}  "
            f"O/E 12m {f['observed_expected_12m']['estimate']:.2f} "
            f"[{f['observed_expected_12m']['low']:.2f}, "
            f"{f['observed_expected_12m']['high']:.2f}]  slope 12m "
            f"{f['calibration_slope_12m']['estimate']:.2f}  Brier 12m "
            f"{f['brier_12m']['estimate']:.3f}"
        )
    if by_group is not None:
        for lm, pooled in by_group.pooled.items():
            c = pooled["harrell_c"]
            typer.echo(
                f"{lm:9} by {by}: "
                + (
                    f"pooled Harrell C {c['estimate']:.3f} [{c['low']:.3f}, {c['high']:.3f}], "
                    f"prediction interval [{c['prediction_low']:.3f}, {c['prediction_high']:.3f}]"
                    if "estimate" in c
                    else c["reason"]
                )
            )
        small = [g for g in by_group.groups if g.figures is None]
        for g in small:
            typer.echo(f"{g.landmark:9} {by} {g.group}: {g.reason}", err=True)
    stages.finish()
    typer.echo(f"report: {out / 'validation.md'}  figures: {out / 'validation.json'}")
