"""`synth`, `calibrate` and `fit-generator`: the synthetic cohorts and their check."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    generator_params,
    output,
    write_output,
)


def synth(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 1,
    out: Annotated[Path, typer.Option(help="Output CSV (canonical columns and outcomes).")] = Path(
        "cohort.csv"
    ),
    complete: Annotated[
        bool,
        typer.Option("--complete", help="Keep every predictor (no registry-like missingness)."),
    ] = False,
    params: Annotated[Path | None, typer.Option(help="Generator parameter file.")] = None,
) -> None:
    """Generate a synthetic cohort."""
    from synthetic.generator import simulate, write_csv

    start = time.perf_counter()
    frame = simulate(n, seed, generator_params(params), missing=not complete)
    with output(out) as (tmp,):
        write_csv(frame, tmp, progress=sys.stderr.isatty())
    typer.echo(f"wrote {n} patients to {out} in {time.perf_counter() - start:.1f} s", err=True)


def calibrate(
    n: Annotated[int, typer.Option("--n", min=100, help="Patients in the check cohort.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    params: Annotated[Path | None, typer.Option(help="Generator parameter file.")] = None,
) -> None:
    """Refit every published figure on a simulated cohort; exit 1 if any check fails."""
    from synthetic.calibration import calibration_rows, format_table
    from synthetic.generator import simulate

    rows = calibration_rows(simulate(n, seed, generator_params(params)))
    typer.echo(format_table(rows, markdown=markdown))
    failed = [r.evidence.id for r in rows if r.passed is False]
    checked = sum(r.passed is not None for r in rows)
    typer.echo(
        f"\n{checked - len(failed)} of {checked} checks passed (n = {n}, seed = {seed})"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    raise typer.Exit(1 if failed else 0)


def fit_generator(
    n: Annotated[int, typer.Option("--n", min=1000, help="Patients per simulation.")] = 60000,
    seed: Annotated[int, typer.Option(help="Seed of the common random numbers.")] = 20240101,
    max_simulations: Annotated[int, typer.Option(help="Budget of simulations.")] = 400,
    params: Annotated[Path | None, typer.Option(help="Starting parameter file.")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the fitted parameters.")] = Path(
        "synthetic/data/generator_params.json"
    ),
) -> None:
    """Refit the generator's free parameters to the evidence table."""
    from synthetic.fit import fit_params
    from synthetic.generator import load_params

    result = fit_params(
        load_params(params),
        n=n,
        seed=seed,
        max_evaluations=max_simulations,
        progress=sys.stderr.isatty(),
    )
    write_output(out, result.params.to_json().encode())
    worst = max(result.residuals.items(), key=lambda kv: abs(kv[1]))
    typer.echo(
        f"wrote {out} after {result.evaluations} simulations; largest residual "
        f"{worst[1]:+.2f} tolerance units ({worst[0]})"
    )
