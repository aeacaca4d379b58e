"""What every command shares: the common options, the exit-status convention, one-line
errors, atomic outputs and reading a cohort argument."""

from __future__ import annotations

import enum
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from features.schema import LANDMARK_CHOICES
from training.choices import RECALIBRATION_METHODS, STRATEGIES


def _choices(name: str, values: tuple[str, ...]) -> type[enum.StrEnum]:
    """An enum of a vocabulary defined elsewhere, so that `--help` lists it and typer refuses
    anything else (exit 2)."""
    return enum.StrEnum(name, {v: v for v in values})


Landmark = _choices("Landmark", LANDMARK_CHOICES)
Strategy = _choices("Strategy", STRATEGIES)
Method = _choices("Method", RECALIBRATION_METHODS)
Engine = _choices("Engine", ("local", "dask"))


def generator_params(path: Path | None):
    """Generator parameters from a file (the shipped ones by default); one clear line when
    the file cannot be used, and a note of what an older generator's file lacked."""
    from features.errors import EvidenceError
    from synthetic.generator import load_params

    try:
        params = load_params(path)
    except EvidenceError as exc:
        fail(str(exc), EXIT_INPUT)
    if params.filled_from_defaults:
        typer.echo(
            f"note: {path} is from an older generator; "
            f"{len(params.filled_from_defaults)} parameters it lacks are the shipped "
            f"ones: {', '.join(params.filled_from_defaults)}",
            err=True,
        )
    return params


RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry", help="Registry directory (default: $RELAPSE_RISK_REGISTRY or ./registry)."
    ),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        help="Mapping file (YAML) from a registry export's own columns, codes, units "
        "and dates to the canonical columns (see examples/).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Processes that score (or map) chunks beside the reading and writing "
        "(default: the CPUs this process may use; 1: a thread).",
    ),
]


def workers_or_default(workers: int | None) -> int:
    from batch.pipeline import default_workers

    return workers if workers is not None else default_workers()


def mapping_file(path: Path | None):
    """The validated mapping, or a clear error listing every problem in it (exit 2)."""
    if path is None:
        return None
    from features.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as exc:
        fail(str(exc), 2)


def read_cohort_arg(
    path: Path,
    mapping_path: Path | None,
    registry: Path | None = None,
    store_as: str | None = None,
    keep: tuple[str, ...] = (),
):
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
                fail(
                    f"a stored cohort keeps the canonical columns only: give the file to "
                    f"keep {', '.join(keep)}",
                    EXIT_INPUT,
                )
            return stored_cohort(store, [str(path)])
        mapping = mapping_file(mapping_path)
        data = _read_export_cohort(path, mapping, keep) or read_cohort(path, mapping, keep)
    except (SchemaError, MappingError, RegistryError, FileNotFoundError, ExportFileError) as exc:
        fail(str(exc), 2)
    report_rejected(data.errors, data.n_read, path)
    if store_as is None:
        return data
    cohort_id, created = store_cohort(store, data, store_as)
    typer.echo(
        f"cohort {'stored as' if created else 'already stored as'} {cohort_id} "
        f"({len(data.frame)} rows)",
        err=True,
    )
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


JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs",
        min=1,
        help="Local worker processes for the bootstrap (same results for any "
        "number: each resample has its own seed).",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        help="Dask scheduler address (tcp://host:8786) to run the bootstrap on a cluster."
    ),
]


# Exit status, the same for every command (README, "Conventions"): 0 done; 1 done, but a
# check failed or some input rows were rejected (they are in the errors file); 2 bad input or
# usage, or a registry that cannot give what was asked (no such version, no production
# model, a damaged version); EXIT_OUTPUT and EXIT_DAMAGED below.
EXIT_CHECK_FAILED = 1
EXIT_INPUT = 2


def fail(message: str, code: int = EXIT_CHECK_FAILED):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# Exit status of a run whose output could not be written (a missing or read-only directory,
# a full disk): distinct from 2, input that could not be read.
EXIT_OUTPUT = 3
# A stored cohort failed its checks (reported and skipped; the others are listed).
EXIT_DAMAGED = 4


@contextmanager
def output(*targets: Path):
    """Temporary paths for `targets`, renamed over them only if the block completes (see
    model_registry.atomic); an output that cannot be written is a one-line error."""
    from model_registry.atomic import atomic_paths

    try:
        with atomic_paths(*targets) as temps:
            yield temps
    except OSError as exc:
        output_error(exc, targets[0])


def output_error(exc: OSError, out: Path):
    """An OSError while writing OUT (its temporary files are already removed): one line."""
    if exc.filename is None or Path(exc.filename).parent.resolve() != out.parent.resolve():
        raise exc
    fail(
        f"cannot write {out}: {exc.strerror or type(exc).__name__} (the previous files, "
        "if any, are unchanged)",
        EXIT_OUTPUT,
    )


def write_output(path: Path, data: bytes) -> None:
    with output(path) as (tmp,):
        tmp.write_bytes(data)


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """A report's files into FOLDER (created), all renamed into place together or none."""
    output_folder(folder)
    with output(*(folder / name for name in files)) as temps:
        for tmp, content in zip(temps, files.values()):
            tmp.write_bytes(content)


def output_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create the folder {out}: {exc.strerror or type(exc).__name__}", EXIT_OUTPUT)


def report_rejected(errors, n_read: int, source: Path, what: str = "rows") -> None:
    """Write rejected rows (row, field, value, error) beside the source and say so."""
    if len(errors):
        errors_path = Path(str(source) + ".errors.csv")
        write_output(errors_path, errors.to_csv(index=False).encode())
        typer.echo(
            f"{errors['row'].nunique()} of {n_read} {what} rejected and not used; see "
            f"{errors_path}",
            err=True,
        )


def list_stored(store, empty: str, line) -> None:
    """A store's verified records, `line(record)` each; damaged entries are reported on stderr
    and skipped, and make the exit status EXIT_DAMAGED. The records' text is the user's, so
    `line` escapes what it prints."""
    from features.text import escape
    from model_registry.registry import RegistryError

    try:
        records, problems = store.check()
    except RegistryError as exc:
        fail(str(exc), 2)
    if not records and not problems:
        typer.echo(empty)
    for record in records:
        typer.echo(line(record))
    for problem in problems:
        typer.echo(f"error: {escape(problem, 500)}; skipped", err=True)
    raise typer.Exit(EXIT_DAMAGED if problems else 0)
