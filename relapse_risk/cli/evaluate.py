"""`evaluate`: a version on fresh synthetic cohorts beside the oracle."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    RegistryOption,
    fail,
    output_folder,
    write_files,
)


def evaluate(
    registry: RegistryOption = None,
    version: Annotated[str | None, typer.Option(help="Version (default: production).")] = None,
    n: Annotated[
        int, typer.Option("--n", min=1000, help="Patients per evaluation cohort.")
    ] = 20000,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option(min=0, help="CV repeats (0 skips the comparison).")] = 2,
    cv_n: Annotated[int, typer.Option(min=1000, help="Cohort size for the CV comparison.")] = 20000,
    out: Annotated[Path, typer.Option(help="Folder for evaluation.md and evaluation.json.")] = Path(
        "evaluation"
    ),
    attainable_n: Annotated[
        int,
        typer.Option(
            min=1000,
            help="Simulated patients the attainable oracle (the bound for models of "
            "the recorded predictors) is fitted on, per landmark and cohort.",
        ),
    ] = 50000,
) -> None:
    """Evaluate a version on held-out and shifted cohorts; compare families by repeated CV."""
    import json

    from model_registry.registry import Registry, RegistryError
    from model_registry.scoring import ScoringModel
    from training.evaluation.evaluate import evaluation_report

    try:
        scoring = ScoringModel(Registry(registry).load(version))
    except RegistryError as exc:
        fail(str(exc), 2)
    output_folder(out)  # before the long work: a folder that cannot be made fails now
    report, markdown, pngs = evaluation_report(
        scoring,
        n=n,
        folds=folds,
        repeats=repeats,
        cv_n=cv_n,
        attainable_n=attainable_n,
        progress=sys.stderr.isatty(),
    )
    files = {
        **pngs,
        "evaluation.md": markdown.encode(),
        "evaluation.json": json.dumps(report, indent=2, default=float).encode(),
    }
    write_files(out, files)
    typer.echo(markdown, nl=False)
    typer.echo(f"written to {out}/evaluation.md and evaluation.json")
