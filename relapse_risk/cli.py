"""The `relapse-risk` command: one thin subcommand per pipeline step.

Each subcommand parses its options and calls the package that owns the work.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from features.schema import AUTO, LANDMARK_CHOICES

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Relapse/progression risk after CD19 CAR-T (research use only).")


def _params(path: Path | None):
    """Generator parameters from a file (the shipped ones by default); one clear line when
    the file cannot be used, and a note of what an older generator's file lacked."""
    from features.errors import EvidenceError
    from synthetic.generator import load_params

    try:
        params = load_params(path)
    except EvidenceError as exc:
        _fail(str(exc), EXIT_INPUT)
    if params.filled_from_defaults:
        typer.echo(f"note: {path} is from an older generator; "
                   f"{len(params.filled_from_defaults)} parameters it lacks are the shipped "
                   f"ones: {', '.join(params.filled_from_defaults)}", err=True)
    return params


@app.command()
def synth(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 1,
    out: Annotated[Path, typer.Option(help="Output CSV (canonical columns and outcomes).")] = Path(
        "cohort.csv"),
    complete: Annotated[bool, typer.Option(
        "--complete", help="Keep every predictor (no registry-like missingness).")] = False,
    params: Annotated[Path | None, typer.Option(help="Generator parameter file.")] = None,
) -> None:
    """Generate a synthetic cohort."""
    from synthetic.generator import simulate, write_csv

    start = time.perf_counter()
    frame = simulate(n, seed, _params(params), missing=not complete)
    with _output(out) as (tmp,):
        write_csv(frame, tmp, progress=sys.stderr.isatty())
    typer.echo(f"wrote {n} patients to {out} in {time.perf_counter() - start:.1f} s", err=True)


@app.command()
def calibrate(
    n: Annotated[int, typer.Option("--n", min=100, help="Patients in the check cohort.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    params: Annotated[Path | None, typer.Option(help="Generator parameter file.")] = None,
) -> None:
    """Refit every published figure on a simulated cohort; exit 1 if any check fails."""
    from synthetic.calibration import calibration_rows, format_table
    from synthetic.generator import simulate

    rows = calibration_rows(simulate(n, seed, _params(params)))
    typer.echo(format_table(rows, markdown=markdown))
    failed = [r.evidence.id for r in rows if r.passed is False]
    checked = sum(r.passed is not None for r in rows)
    typer.echo(f"\n{checked - len(failed)} of {checked} checks passed (n = {n}, seed = {seed})"
               + (f"; failed: {', '.join(failed)}" if failed else ""))
    raise typer.Exit(1 if failed else 0)


@app.command("fit-generator")
def fit_generator(
    n: Annotated[int, typer.Option("--n", min=1000, help="Patients per simulation.")] = 60000,
    seed: Annotated[int, typer.Option(help="Seed of the common random numbers.")] = 20240101,
    max_simulations: Annotated[int, typer.Option(help="Budget of simulations.")] = 400,
    params: Annotated[Path | None, typer.Option(help="Starting parameter file.")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the fitted parameters.")] = Path(
        "synthetic/data/generator_params.json"),
) -> None:
    """Refit the generator's free parameters to the evidence table."""
    from synthetic.fit import fit_params
    from synthetic.generator import load_params

    result = fit_params(load_params(params), n=n, seed=seed, max_evaluations=max_simulations,
                        progress=sys.stderr.isatty())
    _write_output(out, result.params.to_json().encode())
    worst = max(result.residuals.items(), key=lambda kv: abs(kv[1]))
    typer.echo(f"wrote {out} after {result.evaluations} simulations; largest residual "
               f"{worst[1]:+.2f} tolerance units ({worst[0]})")


RegistryOption = Annotated[Path | None, typer.Option(
    "--registry", help="Registry directory (default: $RELAPSE_RISK_REGISTRY or ./registry).")]
MappingOption = Annotated[Path | None, typer.Option(
    "--mapping", help="Mapping file (YAML) from a registry export's own columns, codes, units "
                      "and dates to the canonical columns (see examples/).")]
WorkersOption = Annotated[int | None, typer.Option(
    min=1, help="Processes that score (or map) chunks beside the reading and writing "
                "(default: the CPUs this process may use; 1: a thread).")]


def _workers(workers: int | None) -> int:
    from batch.pipeline import default_workers

    return workers if workers is not None else default_workers()


def _mapping(path: Path | None):
    """The validated mapping, or a clear error listing every problem in it (exit 2)."""
    if path is None:
        return None
    from features.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as exc:
        _fail(str(exc), 2)


def _read_cohort(path: Path, mapping_path: Path | None, registry: Path | None = None,
                 store_as: str | None = None, keep: tuple[str, ...] = ()):
    """A cohort with outcomes: a stored cohort id (`cNNNN`), or a canonical CSV or registry
    export (through a mapping). With `store_as`, a file is first added to the registry's
    cohort store and read back from it, so the model records where its rows came from."""
    from features.errors import SchemaError
    from features.mapping import MappingError
    from features.readers import ExportFileError
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry, RegistryError
    from training.cohort import is_cohort_id, read_cohort, store_cohort, stored_cohort

    store = CohortStore(Registry(registry))
    try:
        if is_cohort_id(str(path)) and not path.exists():
            if keep:
                _fail(f"a stored cohort keeps the canonical columns only: give the file to "
                      f"keep {', '.join(keep)}", EXIT_INPUT)
            return stored_cohort(store, [str(path)])
        mapping = _mapping(mapping_path)
        data = (_read_export_cohort(path, mapping, keep)
                or read_cohort(path, mapping, keep))
    except (SchemaError, MappingError, RegistryError, FileNotFoundError,
            ExportFileError) as exc:
        _fail(str(exc), 2)
    _report_rejected(data.errors, data.n_read, path)
    if store_as is None:
        return data
    cohort_id, created = store_cohort(store, data, store_as)
    typer.echo(f"cohort {'stored as' if created else 'already stored as'} {cohort_id} "
               f"({len(data.frame)} rows)", err=True)
    return stored_cohort(store, [cohort_id])


def _read_export_cohort(path: Path, mapping, keep: tuple[str, ...] = ()):
    """A cohort from any file `features.readers` reads (a CSV in another dialect, Excel, SAS,
    Stata, SPSS), or None for a UTF-8 comma CSV, which `training.cohort.read_cohort` reads;
    either way described, hashed and keyed by `training.cohort.cohort_from_rows`."""
    from features.readers import as_text, open_export
    from training.cohort import cohort_from_rows

    if not path.exists():
        return None
    export = open_export(path, mapping.file if mapping is not None else None)
    if export.fast:
        return None
    typer.echo(export.describe(), err=True)
    raw = export.read()
    return cohort_from_rows(raw if mapping is not None else as_text(raw), path, mapping, keep)


JobsOption = Annotated[int, typer.Option(
    "--jobs", min=1, help="Local worker processes for the bootstrap (same results for any "
                          "number: each resample has its own seed).")]
SchedulerOption = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://host:8786) to run the bootstrap on a cluster.")]


# Exit status, the same for every command (README, "Conventions"): 0 done; 1 done, but a
# check failed or some input rows were rejected (they are in the errors file); 2 bad input or
# usage, or a registry that cannot give what was asked (no such version, no production
# model, a damaged version); EXIT_OUTPUT and EXIT_DAMAGED below.
EXIT_CHECK_FAILED = 1
EXIT_INPUT = 2


def _fail(message: str, code: int = EXIT_CHECK_FAILED):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# Exit status of a run whose output could not be written (a missing or read-only directory,
# a full disk): distinct from 2, input that could not be read.
EXIT_OUTPUT = 3
# A stored cohort failed its checks (reported and skipped; the others are listed).
EXIT_DAMAGED = 4


@contextmanager
def _output(*targets: Path):
    """Temporary paths for `targets`, renamed over them only if the block completes (see
    model_registry.atomic); an output that cannot be written is a one-line error."""
    from model_registry.atomic import atomic_paths

    try:
        with atomic_paths(*targets) as temps:
            yield temps
    except OSError as exc:
        _output_error(exc, targets[0])


def _output_error(exc: OSError, out: Path):
    """An OSError while writing OUT (its temporary files are already removed): one line."""
    if exc.filename is None or Path(exc.filename).parent.resolve() != out.parent.resolve():
        raise exc
    _fail(f"cannot write {out}: {exc.strerror or type(exc).__name__} (the previous files, "
          "if any, are unchanged)", EXIT_OUTPUT)


def _write_output(path: Path, data: bytes) -> None:
    with _output(path) as (tmp,):
        tmp.write_bytes(data)


def _output_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create the folder {out}: {exc.strerror or type(exc).__name__}",
              EXIT_OUTPUT)


def _report_rejected(errors, n_read: int, source: Path, what: str = "rows") -> None:
    """Write rejected rows (row, field, value, error) beside the source and say so."""
    if len(errors):
        errors_path = Path(str(source) + ".errors.csv")
        _write_output(errors_path, errors.to_csv(index=False).encode())
        typer.echo(f"{errors['row'].nunique()} of {n_read} {what} rejected and not used; see "
                   f"{errors_path}", err=True)


@app.command()
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
        _fail(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", 2)
    start = time.perf_counter()
    data = (_read_cohort(cohort, mapping, registry, store_as=cohort.stem) if cohort
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
            _fail(str(exc), 2)
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


@app.command()
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
        _fail(str(exc), 2)
    report: dict = {"version": scoring.version}
    lines = [f"# Evaluation of {scoring.version}", ""]
    _output_folder(out)
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
            _write_output(out / name, png)
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
    _write_output(out / "evaluation.md", ("\n".join(lines) + "\n").encode())
    _write_output(out / "evaluation.json", json.dumps(report, indent=2, default=float).encode())
    typer.echo("\n".join(lines))
    typer.echo(f"written to {out}/evaluation.md and evaluation.json")


@app.command()
def validate(
    cohort: Annotated[Path, typer.Option(help="Cohort with outcomes: a CSV (canonical, or an "
                                              "export with --mapping) or a stored cohort id.")],
    version: Annotated[str | None, typer.Option(help="Version (default: production).")] = None,
    registry: RegistryOption = None,
    out: Annotated[Path, typer.Option(help="Folder for validation.md, validation.json and "
                                           "the plots.")] = Path("validation"),
    bootstrap: Annotated[int, typer.Option(min=20, help="Bootstrap resamples for the 95% "
                                                        "intervals.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    mapping: MappingOption = None,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
    by: Annotated[str | None, typer.Option(
        help="A column of the file (not canonical, e.g. the export's centre) to validate each "
             "group by, with a random-effects summary across groups and a forest plot.")
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
        _fail(str(exc), 2)
    from training.progress import Stages
    from training.resampling import scheduler as cluster

    data = _read_cohort(cohort, mapping, registry, keep=(by,) if by else ())
    stages = Stages("validate")
    by_group = None
    try:
        with cluster(scheduler, jobs) as workers:
            results = validate_model(scoring, data.frame, bootstrap, seed,
                                     progress=stages.bars, n_jobs=workers, stages=stages)
            if by:
                from training.evaluation.centres import validate_by

                by_group = validate_by(scoring, data.frame, by, n_boot=bootstrap, seed=seed,
                                       n_jobs=workers, stages=stages)
    except ValidationError as exc:
        _fail(str(exc), 2)
    development = development_frame(scoring.metadata, CohortStore(Registry(registry)))
    files = report_files(
        results, version=scoring.version, cohort=data.description, n_boot=bootstrap,
        mix=None if development is None else case_mix(development, data.frame),
        risks=risk_distribution(scoring, data.frame),
        development_risks=None if development is None else risk_distribution(scoring,
                                                                             development),
        notice=scoring.metadata.get("notice", ""), by_group=by_group)
    _output_folder(out)
    with _output(*(out / name for name in files)) as temps:
        for tmp, content in zip(temps, files.values()):
            tmp.write_bytes(content)
    for lm, r in results.items():
        f = r.figures
        typer.echo(f"{lm:9} n {r.n:5}  Harrell C {f['harrell_c']['estimate']:.3f}  "
                   f"O/E 12m {f['observed_expected_12m']['estimate']:.2f} "
                   f"[{f['observed_expected_12m']['low']:.2f}, "
                   f"{f['observed_expected_12m']['high']:.2f}]  slope 12m "
                   f"{f['calibration_slope_12m']['estimate']:.2f}  Brier 12m "
                   f"{f['brier_12m']['estimate']:.3f}")
    if by_group is not None:
        for lm, pooled in by_group.pooled.items():
            c = pooled["harrell_c"]
            typer.echo(f"{lm:9} by {by}: " + (
                f"pooled Harrell C {c['estimate']:.3f} [{c['low']:.3f}, {c['high']:.3f}], "
                f"prediction interval [{c['prediction_low']:.3f}, {c['prediction_high']:.3f}]"
                if "estimate" in c else c["reason"]))
        small = [g for g in by_group.groups if g.figures is None]
        for g in small:
            typer.echo(f"{g.landmark:9} {by} {g.group}: {g.reason}", err=True)
    stages.finish()
    typer.echo(f"report: {out / 'validation.md'}  figures: {out / 'validation.json'}")


@app.command()
def recalibrate(
    cohort: Annotated[Path, typer.Option(help="Cohort with outcomes from the new population: a "
                                              "CSV or a stored cohort id.")],
    version: Annotated[str | None, typer.Option(help="Version to update (default: production).")
                       ] = None,
    method: Annotated[str, typer.Option(
        help="intercept (the relapse hazard's level), slope (its slope and level), horizons "
             "(a level at each of 6, 12 and 24 months) or auto (the smallest of these the "
             "data support).")] = "auto",
    update_fraction: Annotated[float, typer.Option(
        min=0.1, max=0.9, help="Share of the first fold of the two-fold cross-fitting that "
                               "assesses the update (the update itself uses every row).")
                               ] = 0.5,
    bootstrap: Annotated[int, typer.Option(min=20, help="Bootstrap resamples for the report's "
                                                        "intervals.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the split and the bootstrap.")] = 0,
    registry: RegistryOption = None,
    mapping: MappingOption = None,
    gate_bootstrap: Annotated[int, typer.Option(
        min=200, help="Paired bootstrap resamples for the gate's intervals.")] = 1000,
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
) -> None:
    """Update a model to a new population without refitting its predictors; the result is a
    new version, promoted only if the parent is production and the gate passes on patients
    neither it nor the update has seen."""
    from model_registry.registry import Registry, RegistryError
    from training.evaluation.external_validation import ValidationError
    from training.updating.recalibrate import METHODS
    from training.updating.recalibrate import recalibrate as run

    if method not in METHODS:
        _fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}", 2)
    from model_registry.cohorts import CohortStore
    from training.progress import Stages
    from training.resampling import scheduler as cluster

    # Stored first, so its rows keep their keys (cNNNN/row) in every later gate's lineage.
    data = _read_cohort(cohort, mapping, registry, store_as=cohort.stem)
    reg = Registry(registry)
    stages = Stages("recalibrate")
    try:
        with cluster(scheduler, jobs) as workers:
            result = run(reg, data, version=version, method=method,
                         update_fraction=update_fraction, seed=seed, n_boot=bootstrap,
                         gate_bootstrap=gate_bootstrap, progress=stages.bars, stages=stages,
                         store=CohortStore(reg), n_jobs=workers)
    except (RegistryError, ValidationError) as exc:
        _fail(str(exc), 2)
    for lm, u in result.updates.items():
        b, a = result.before[lm].figures, result.after[lm].figures
        typer.echo(f"{lm:9} {u.method:9} slope {u.slope:.3f}  O/E 12m "
                   f"{b['observed_expected_12m']['estimate']:.2f} -> "
                   f"{a['observed_expected_12m']['estimate']:.2f}  cal. slope 12m "
                   f"{b['calibration_slope_12m']['estimate']:.2f} -> "
                   f"{a['calibration_slope_12m']['estimate']:.2f}  ({u.reason})")
    typer.echo(result.decision.table())
    typer.echo(f"registered {result.version} (parent {result.parent}); "
               + ("promoted to production" if result.promoted else
                  f"not promoted (`relapse-risk registry promote {result.version}` to switch)")
               + f"; report: relapse-risk registry show {result.version}")


cohort_app = typer.Typer(no_args_is_help=True,
                         help="Cohorts with outcomes, stored immutably in the registry.")
app.add_typer(cohort_app, name="cohort")


@cohort_app.command("add")
def cohort_add(
    source: Annotated[Path, typer.Argument(help="Cohort CSV with outcomes (canonical, or a "
                                                "registry export with --mapping).")],
    name: Annotated[str, typer.Option(help="A name for the cohort (e.g. the registry and "
                                           "the date of the export).")],
    mapping: MappingOption = None,
    registry: RegistryOption = None,
) -> None:
    """Validate a cohort and store its accepted rows (Parquet, hashed, immutable)."""
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry
    from training.cohort import store_cohort

    data = _read_cohort(source, mapping, registry)
    cohort_id, created = store_cohort(CohortStore(Registry(registry)), data, name)
    verb = "stored" if created else "already stored (same rows)"
    typer.echo(f"{cohort_id} {verb}: {len(data.frame)} of {data.n_read} rows accepted, "
               f"{int(data.frame['pfs_event'].sum())} PFS events")


@cohort_app.command("list")
def cohort_list(registry: RegistryOption = None) -> None:
    """Every stored cohort (verified)."""
    from features.text import escape
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry, RegistryError

    try:
        records, problems = CohortStore(Registry(registry)).check()
    except RegistryError as exc:
        _fail(str(exc), 2)
    if not records and not problems:
        typer.echo("no stored cohorts; `relapse-risk cohort add FILE --name NAME` stores one")
    for r in records:  # names and sources are the user's text: escaped, one line each
        typer.echo(f"{r['id']}  {escape(r['name']):24}  {r['rows_accepted']:7} rows  "
                   f"(read {r['rows_read']}, rejected {r['rows_rejected']})  "
                   f"{escape(r['added'])}  {escape(r['source'])}  "
                   f"sha256 {escape(r['content_sha256'][:12])}")
    for problem in problems:
        typer.echo(f"error: {escape(problem, 500)}; skipped", err=True)
    raise typer.Exit(EXIT_DAMAGED if problems else 0)


@cohort_app.command("show")
def cohort_show(cohort_id: Annotated[str, typer.Argument(help="Cohort id (cNNNN).")],
                registry: RegistryOption = None) -> None:
    """A stored cohort's record, outcomes and missingness (rows verified)."""
    import json

    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry, RegistryError

    try:
        stored = CohortStore(Registry(registry)).load(cohort_id)
    except RegistryError as exc:
        _fail(str(exc), 2)
    typer.echo(f"cohort {cohort_id} (integrity verified)")
    typer.echo(json.dumps(stored.record, indent=2, sort_keys=True))
    frame = stored.frame
    typer.echo(f"PFS events {int(frame['pfs_event'].sum())} of {len(frame)}; median time to "
               f"a PFS event or censoring {frame['pfs_months'].median():.1f} months")
    from features.schema import PREDICTORS

    missing = frame[[c for c in PREDICTORS if c in frame.columns]].isna().mean()
    typer.echo("predictors missing: " + ", ".join(f"{c} {v:.0%}" for c, v in missing.items()
                                                  if v > 0))


registry_app = typer.Typer(no_args_is_help=True, help="List, inspect, promote, roll back.")
app.add_typer(registry_app, name="registry")


@registry_app.command("list")
def registry_list(registry: RegistryOption = None) -> None:
    """Every version with its stage."""
    from model_registry.registry import Registry

    rows = Registry(registry).list()
    if not rows:
        typer.echo("the registry is empty; run `relapse-risk train`")
    for r in rows:
        champions = ", ".join(f"{k}={v}" for k, v in (r["champion"] or {}).items())
        typer.echo(f"{r['version']}  {r['stage']:10}  {r['created'] or '?':25}  {champions}"
                   + (f"  parent {r['parent']}" if r["parent"] else ""))


@registry_app.command("show")
def registry_show(version: Annotated[str | None, typer.Argument(
        help="Version (default: production).")] = None, registry: RegistryOption = None) -> None:
    """Verified metadata and model card of a version."""
    from model_registry.registry import Registry, RegistryError
    from training.cohort import describe_lineage
    from training.updating.lineage import updates_along

    reg = Registry(registry)
    try:
        loaded = reg.load(version)
    except RegistryError as exc:
        _fail(str(exc), 2)
    meta = loaded.metadata
    typer.echo(f"version {loaded.version} (integrity verified)")
    typer.echo(f"created {meta['created']}; schema {meta['schema_version']}; parent "
               f"{meta.get('parent_version')}")
    typer.echo("trained on: " + "; ".join(describe_lineage(meta["cohort"])))
    for update in updates_along(reg, loaded):
        typer.echo(f"updated ({update['version']}, {update['method']}) on: "
                   + "; ".join(describe_lineage(update["cohort"])))
    for lm, info in meta["landmarks"].items():
        m = info["metrics"][info["family"]]
        typer.echo(f"  {lm}: {info['family']}  Uno C {m['uno_c']:.3f}  AUC12 "
                   f"{m['auc_12m']:.3f}  ONNX parity {info['onnx_parity_max_abs']:.1e}")
    typer.echo("")
    typer.echo(reg.file(loaded.version, "model_card.md").decode())


@registry_app.command("promote")
def registry_promote(version: str, registry: RegistryOption = None) -> None:
    """Make a version production (the current one is archived)."""
    from model_registry.registry import Registry, RegistryError

    try:
        previous = Registry(registry).promote(version)
    except RegistryError as exc:
        _fail(str(exc), 2)
    typer.echo(f"{version} is production" + (f" (was {previous})" if previous else ""))


@registry_app.command("rollback")
def registry_rollback(registry: RegistryOption = None) -> None:
    """Return production to the version it replaced."""
    from model_registry.registry import Registry, RegistryError

    try:
        version = Registry(registry).rollback()
    except RegistryError as exc:
        _fail(str(exc), 2)
    typer.echo(f"rolled back: {version} is production")


@app.command()
def retrain(
    cohort: Annotated[Path, typer.Option(help="New cohort CSV with outcomes.")],
    registry: RegistryOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation split.")] = 0,
    mapping: MappingOption = None,
    bootstrap: Annotated[int, typer.Option(
        min=20, help="Paired bootstrap resamples for the gate's intervals.")] = 1000,
    strategy: Annotated[str, typer.Option(
        help="How the challenger is developed: holdout, resampling, or auto (resampling "
             "below 5,000 patients, as train does).")] = "auto",
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

        data = _read_cohort(cohort, mapping, registry)
        new_cohort, created = store_cohort(CohortStore(Registry(registry)), data, cohort.stem)
        typer.echo(f"cohort {'stored as' if created else 'already stored as'} {new_cohort}",
                   err=True)
    from training.develop import STRATEGIES, DevelopmentError
    from training.progress import Stages

    if strategy not in STRATEGIES:
        _fail(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", 2)
    stages = Stages("retrain")
    try:
        result = run(new_cohort, Registry(registry), seed=seed, progress=stages.bars,
                     mapping=_mapping(mapping), n_boot=bootstrap, strategy=strategy,
                     stages=stages)
    except (SchemaError, RegistryError, MappingError, FileNotFoundError,
            DevelopmentError) as exc:
        _fail(str(exc), 2)
    _report_rejected(result.rejected, result.n_new_rows, cohort, "new rows")
    typer.echo(result.decision.table())
    typer.echo(f"challenger {result.challenger} " + (
        f"promoted (was {result.champion})" if result.promoted else
        f"registered as a candidate; production stays {result.champion}"))


def _needs_reader(path: Path, mapping_path: Path | None) -> bool:
    """Whether a file is anything but a UTF-8 comma CSV (read by `features.readers`)."""
    from features.readers import ExportFileError, open_export

    mapping = _mapping(mapping_path)
    try:
        return not open_export(path, mapping.file if mapping is not None else None).fast
    except ExportFileError as exc:
        _fail(str(exc), 2)


@app.command("import")
def import_export(
    source: Annotated[Path, typer.Argument(help="Registry export: CSV/TSV in any dialect "
                                                "(.csv, .tsv, .csv.gz), Excel (.xlsx, .xls, "
                                                ".ods), SAS (.sas7bdat, .xpt), Stata (.dta) "
                                                "or SPSS (.sav).")],
    mapping: Annotated[Path, typer.Option(help="Mapping file (YAML) of the registry's "
                                               "columns, codes, units and dates.")],
    out: Annotated[Path, typer.Option(help="Canonical CSV; rejected rows go to "
                                           "OUT.errors.csv.")] = Path("canonical.csv"),
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
        _fail(f"{source} does not exist", 2)
    try:
        refuse_overlap({"the export": source, "the mapping": mapping},
                       {"--out": out, "the error file": errors_path_for(out)})
    except OutputPathError as exc:
        _fail(str(exc), 2)
    export_mapping = _mapping(mapping)
    with tqdm(unit="rows", desc="importing", disable=quiet or not sys.stderr.isatty(),
              unit_scale=True) as bar:
        try:
            summary = import_csv(source, out, export_mapping, chunk_rows=chunk_size,
                                 workers=_workers(workers),
                                 progress=bar.update, mapping_path=mapping)
        except (InputFileError, MappingError, OutputPathError) as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            _output_error(exc, out)
    if summary.read_as:
        typer.echo(summary.read_as, err=True)
    unused = (f"\nexport columns not in the mapping (not imported): "
              f"{', '.join(summary.passed_through)}" if summary.passed_through else "")
    typer.echo(f"rows read {summary.rows_read}, accepted {summary.scored}, rejected "
               f"{summary.rejected} ({summary.seconds:.1f} s){unused}\ncanonical rows: {out}"
               f"\nrejected rows: {errors_path_for(out)} (one line per problem)", err=True)
    raise typer.Exit(1 if summary.rejected else 0)


@app.command()
def score(
    source: Annotated[Path, typer.Argument(help="Canonical CSV, or a registry export with "
                                                "--mapping (any file `import` reads).")],
    out: Annotated[Path, typer.Option(help="Scored CSV; rejected rows go to OUT.errors.csv.")],
    landmark: Annotated[str, typer.Option(help="auto, infusion or day28.")] = AUTO,
    chunk_size: Annotated[int, typer.Option(min=100, help="Rows per chunk.")] = 50000,
    pass_through: Annotated[bool, typer.Option(
        "--pass-through", help="Keep non-canonical columns in the output, unused.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    engine: Annotated[str, typer.Option(help="local, or dask to score partitions on a "
                                             "Dask cluster.")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: a local cluster of two workers).")] = None,
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

    if landmark not in LANDMARK_CHOICES:
        _fail(f"--landmark must be one of {', '.join(LANDMARK_CHOICES)}, got {landmark!r}", 2)
    if engine not in ("local", "dask"):
        _fail(f"--engine must be local or dask, got {engine!r}", 2)
    if not source.exists():
        _fail(f"{source} does not exist", 2)
    try:
        check_outputs(source, out, mapping)
    except OutputPathError as exc:
        _fail(str(exc), 2)
    export_mapping = _mapping(mapping)
    try:
        model = ScoringModel(Registry(registry).load(), bulk=True)
    except RegistryError as exc:
        _fail(str(exc), 2)
    with tqdm(unit="rows", desc="scoring", disable=quiet or not sys.stderr.isatty(),
              unit_scale=True) as bar:
        try:
            if engine == "dask":
                from batch.dask_engine import score_csv_dask

                reg = Registry(registry)
                summary = score_csv_dask(source, out, reg.root.resolve(), model.version,
                                         landmark=landmark, scheduler=scheduler,
                                         pass_through_unknown=pass_through,
                                         progress=bar.update, mapping=export_mapping,
                                         mapping_path=mapping)
            else:
                summary = score_csv(source, out, model, landmark=landmark,
                                    chunk_rows=chunk_size, pass_through_unknown=pass_through,
                                    progress=bar.update, mapping=export_mapping,
                                    mapping_path=mapping, workers=_workers(workers))
        except (InputFileError, SchemaError, MappingError, OutputPathError) as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            _output_error(exc, out)
    if summary.read_as:
        typer.echo(summary.read_as, err=True)
    plot = write_risk_plot(summary, Path(str(out) + ".risk_12m.png")) if summary.scored else None
    typer.echo("\n".join([summary.line(), *summary.summary_lines()])
               + (f"\n12-month risk plot: {plot}" if plot else "")
               + f"\nscored rows: {out}\nrejected rows: {errors_path_for(out)} (one line per "
               "problem)", err=True)
    raise typer.Exit(1 if summary.rejected else 0)


mapping_app = typer.Typer(no_args_is_help=True,
                          help="Draft a mapping for an export, check one before importing, "
                               "store one for the service.")
app.add_typer(mapping_app, name="mapping")
SheetOption = Annotated[str | None, typer.Option(
    help="Workbook sheet: a name or a 0-based index (default: the first).")]


def _open_for_mapping(export_path: Path, mapping, sheet: str | None):
    from dataclasses import replace

    from features.readers import ExportFileError, FileFormat, open_export

    fmt = mapping.file if mapping is not None else FileFormat()
    if sheet is not None:
        fmt = replace(fmt, sheet=int(sheet) if sheet.isdigit() else sheet)
    try:
        return open_export(export_path, fmt)
    except ExportFileError as exc:
        _fail(str(exc), 2)


@mapping_app.command("draft")
def mapping_draft(
    export: Annotated[Path, typer.Argument(help="The registry export (any file `import` "
                                                "reads).")],
    out: Annotated[Path | None, typer.Option(help="Where to write the draft (default: "
                                                  "print it).")] = None,
    sheet: SheetOption = None,
) -> None:
    """Write a first mapping for an export: columns matched by name and content, codes, units,
    date format, missing tokens; every guess marked for you to confirm."""
    from features.drafting import DRAFT_ROWS, draft_mapping
    from features.readers import ExportFileError

    opened = _open_for_mapping(export, None, sheet)
    typer.echo(opened.describe(), err=True)
    try:
        frame = next(iter(opened.chunks(DRAFT_ROWS)), None)
    except ExportFileError as exc:
        _fail(str(exc), 2)
    import pandas as pd

    text = draft_mapping(opened, frame if frame is not None else pd.DataFrame(
        columns=opened.header))
    if out is None:
        typer.echo(text, nl=False)
        return
    if out.exists():
        _fail(f"{out} exists; a draft never overwrites a mapping (choose another --out)", 2)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    confirm = text.count("\n  - ")
    typer.echo(f"wrote {out}: {confirm} guesses to confirm (listed under `confirm:`); then "
               f"`relapse-risk mapping check {out} {export}`", err=True)


@mapping_app.command("check")
def mapping_check(
    mapping: Annotated[Path, typer.Argument(help="Mapping file (YAML).")],
    export: Annotated[Path, typer.Argument(help="The registry export it reads.")],
    chunk_size: Annotated[int, typer.Option(min=100, help="Rows per chunk.")] = 50000,
) -> None:
    """Report what importing EXPORT through MAPPING would reject, and why, without writing
    anything. Exit status: 0 every row accepted and nothing left to confirm; 1 otherwise; 2
    the mapping or the file cannot be read."""
    from features.drafting import check_mapping
    from features.mapping import MappingError, load_mapping
    from features.readers import ExportFileError

    try:
        loaded = load_mapping(mapping, allow_unconfirmed=True)
    except MappingError as exc:
        _fail(str(exc), 2)
    opened = _open_for_mapping(export, loaded, None)
    typer.echo(opened.describe())
    try:
        report = check_mapping(opened, loaded, opened.chunks(chunk_size))
    except (MappingError, ExportFileError) as exc:
        _fail(str(exc), 2)
    typer.echo("\n".join(report.lines(loaded)))
    raise typer.Exit(0 if report.accepted == report.rows and not loaded.confirm else 1)


@mapping_app.command("add")
def mapping_add(
    mapping: Annotated[Path, typer.Argument(help="Mapping file (YAML), every guess "
                                                 "confirmed.")],
    name: Annotated[str, typer.Option(help="The name the service's /score_csv takes it by: "
                                           "lower-case letters, digits, '.', '_', '-'.")],
    registry: RegistryOption = None,
) -> None:
    """Validate a mapping and store it in the registry under NAME (hashed, immutable), for
    /score_csv's `mapping` field."""
    from features.mapping import MappingError
    from model_registry.mappings import MappingStore
    from model_registry.registry import Registry, RegistryError

    try:
        data = mapping.read_bytes()
    except OSError as exc:
        _fail(f"{mapping}: cannot be read ({exc.strerror or type(exc).__name__})", 2)
    try:
        record, created = MappingStore(Registry(registry)).add(data, name=name,
                                                              source=mapping.name)
    except (MappingError, RegistryError) as exc:
        _fail(str(exc), 2)
    verb = "stored" if created else "already stored (same file)"
    typer.echo(f"mapping {record['name']} {verb}: {len(record['fields'])} fields, sha256 "
               f"{record['file_sha256'][:12]}")


@mapping_app.command("list")
def mapping_list(registry: RegistryOption = None) -> None:
    """Every stored mapping (verified)."""
    from features.text import escape
    from model_registry.mappings import MappingStore
    from model_registry.registry import Registry, RegistryError

    try:
        records, problems = MappingStore(Registry(registry)).check()
    except RegistryError as exc:
        _fail(str(exc), 2)
    if not records and not problems:
        typer.echo("no stored mappings; `relapse-risk mapping add FILE --name NAME` stores one")
    for r in records:  # sources are the user's text: escaped
        typer.echo(f"{r['name']:24}  {len(r['fields']):3} fields  {escape(r['added'])}  "
                   f"{escape(r['source'])}  sha256 {escape(r['file_sha256'][:12])}")
    for problem in problems:
        typer.echo(f"error: {escape(problem, 500)}; skipped", err=True)
    raise typer.Exit(EXIT_DAMAGED if problems else 0)


@mapping_app.command("show")
def mapping_show(name: Annotated[str, typer.Argument(help="The stored mapping's name.")],
                 registry: RegistryOption = None) -> None:
    """A stored mapping's record and file (verified)."""
    import json

    from model_registry.mappings import MappingStore
    from model_registry.registry import Registry, RegistryError

    try:
        stored = MappingStore(Registry(registry)).load(name)
    except RegistryError as exc:
        _fail(str(exc), 2)
    typer.echo(f"mapping {stored.name} (integrity verified)")
    typer.echo(json.dumps(stored.record, indent=2, sort_keys=True))
    typer.echo(stored.text, nl=not stored.text.endswith("\n"))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 3000,
    registry: RegistryOption = None,
) -> None:
    """Serve the production model over REST (trains the default model if the registry is empty)."""
    import os

    from model_registry.registry import DEFAULT_ROOT_ENV, Registry
    from serving.config import ConfigError, load_settings
    from training.cohort import synthetic_cohort
    from training.train import train_version

    if registry is not None:
        os.environ[DEFAULT_ROOT_ENV] = str(registry.resolve())
    try:
        load_settings()  # a keys file without a key stops here, in one line
    except ConfigError as exc:
        _fail(str(exc), 2)
    reg = Registry()
    if reg.production() is None:
        typer.echo(f"no production model in {reg.root}: training the default model first", err=True)
        version, _ = train_version(synthetic_cohort(), reg, progress=sys.stderr.isatty())
        reg.promote(version)
        typer.echo(f"trained and promoted {version}", err=True)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    os.environ.setdefault(DEFAULT_ROOT_ENV, str(reg.root.resolve()))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"web calculator: http://{shown}:{port}/app/  (REST: POST /score, see /docs)",
               err=True)
    os.execv(sys.executable, [sys.executable, "-m", "bentoml", "serve",
                              "serving.service:RelapseRisk", "--host", host, "--port", str(port)])


bento_app = typer.Typer(no_args_is_help=True, help="Package the service as a bento.")
app.add_typer(bento_app, name="bento")


@bento_app.command("build")
def bento_build(
    version: Annotated[str | None, typer.Option(
        help="Registry version to put inside (default: production).")] = None,
    with_model: Annotated[bool, typer.Option(
        "--with-model/--without-model",
        help="Carry the model inside the bento, or read it from $RELAPSE_RISK_REGISTRY.")] = True,
    registry: RegistryOption = None,
) -> None:
    """Build a bento of the service (serving code and runtime packages only)."""
    import os

    from model_registry.registry import Registry, RegistryError
    from serving.bento import build_bento

    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    try:
        bento, model = build_bento(Registry(registry), version, with_model=with_model)
    except RegistryError as exc:
        _fail(str(exc), 2)
    if model is not None:
        typer.echo(f"model {model.tag} (registry version {model.info.labels['registry_version']}) "
                   "stored in BentoML's model store and carried by the bento")
    typer.echo(f"built bento {bento.tag}\n  serve it:  bentoml serve {bento.tag}"
               + ("" if model is not None else
                  "  (with RELAPSE_RISK_REGISTRY set to the registry to serve from)"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
