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
    write_output,
)


def evaluate(
    registry: RegistryOption = None,
    version: Annotated[str | None, typer.Option(help="Version (default: production).")] = None,
    n: Annotated[int, typer.Option("--n", min=1000, help="Patients per evaluation cohort.")
                 ] = 20000,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option(min=0, help="CV repeats (0 skips the comparison).")
                       ] = 2,
    cv_n: Annotated[int, typer.Option(min=1000, help="Cohort size for the CV comparison.")
                    ] = 20000,
    out: Annotated[Path, typer.Option(help="Folder for evaluation.md and evaluation.json.")
                   ] = Path("evaluation"),
    attainable_n: Annotated[int, typer.Option(
        min=1000, help="Simulated patients the attainable oracle (the bound for models of "
        "the recorded predictors) is fitted on, per landmark and cohort.")] = 50000,
) -> None:
    """Evaluate a version on held-out and shifted cohorts; compare families by repeated CV."""
    import json

    from model_registry.registry import Registry, RegistryError
    from model_registry.scoring import ScoringModel
    from training.cohort import synthetic_cohort
    from training.evaluation import evaluate as assess

    try:
        scoring = ScoringModel(Registry(registry).load(version))
    except RegistryError as exc:
        fail(str(exc), 2)
    report: dict = {"version": scoring.version}
    lines = [f"# Evaluation of {scoring.version}", ""]
    output_folder(out)
    from tqdm import tqdm

    steps = tqdm(total=3, desc="evaluating", unit="step", disable=not sys.stderr.isatty())
    for label, shifted, seed in (("held-out", False, assess.HELD_OUT_SEED),
                                 ("shifted case-mix", True, assess.SHIFTED_SEED)):
        steps.set_postfix(cohort=label)
        steps.update(1)
        cohort = assess.evaluation_cohort(n, seed, shifted, latent=True)
        metrics = assess.assess_model(scoring, cohort)
        report[label] = metrics
        for name, png in assess.plots(scoring, cohort, label).items():
            write_output(out / name, png)
            lines.append(f"![{name}]({name})")
        lines += [f"## {label} cohort (n = {n}, seed {seed})", "",
                  "| landmark | " + " | ".join(assess.SUMMARY_KEYS) + " | net benefit 12m |",
                  "|---" * (len(assess.SUMMARY_KEYS) + 2) + "|"]
        for lm, m in metrics.items():
            nb = ", ".join(f"{t:.1f}: {v:+.3f}" for t, v in zip(
                m["net_benefit_12m"]["thresholds"], m["net_benefit_12m"]["model"]))
            lines.append(f"| {lm} | " + " | ".join(f"{m[k]:.3f}" for k in assess.SUMMARY_KEYS)
                         + f" | {nb} |")
        lines.append("")
        causes = assess.cause_report(scoring, cohort)
        report[f"{label}: causes"] = causes
        lines += assess.cause_lines(causes, label)
        oracle = assess.oracle_report(scoring, cohort,
                                      assess.shifted_params() if shifted else None,
                                      attainable_n)
        report[f"{label}: oracle"] = oracle
        lines += assess.oracle_lines(oracle, label)
    steps.set_postfix(cohort="missing biomarkers")
    steps.update(1)
    steps.close()
    degradation = assess.missing_degradation(
        scoring, assess.evaluation_cohort(n, assess.HELD_OUT_SEED))
    report["missing_predictor"] = degradation.to_dict(orient="records")
    lines += ["## When one biomarker is unknown for everyone (held-out cohort)", "",
              degradation.to_markdown(index=False, floatfmt=".3f"), ""]
    if repeats:
        records = assess.cross_validate(synthetic_cohort(cv_n, assess.HELD_OUT_SEED + 1),
                                        folds, repeats, progress=sys.stderr.isatty())
        summary = assess.summarise_cv(records)
        report["cross_validation"] = records.to_dict(orient="records")
        lines += [f"## Repeated cross-validation ({repeats} x {folds}-fold, n = {cv_n})", "",
                  summary.to_markdown(index=False), ""]
    write_output(out / "evaluation.md", ("\n".join(lines) + "\n").encode())
    write_output(out / "evaluation.json", json.dumps(report, indent=2, default=float).encode())
    typer.echo("\n".join(lines))
    typer.echo(f"written to {out}/evaluation.md and evaluation.json")

