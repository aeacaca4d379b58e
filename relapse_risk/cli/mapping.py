"""`mapping draft | check | add | list | show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    RegistryOption,
    fail,
    list_stored,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Draft a mapping for an export, check one before importing, store one for the service.",
)
SheetOption = Annotated[
    str | None, typer.Option(help="Workbook sheet: a name or a 0-based index (default: the first).")
]


def _open_for_mapping(export_path: Path, mapping, sheet: str | None):
    from dataclasses import replace

    from features.readers import ExportFileError, FileFormat, open_export

    fmt = mapping.file if mapping is not None else FileFormat()
    if sheet is not None:
        fmt = replace(fmt, sheet=int(sheet) if sheet.isdigit() else sheet)
    try:
        return open_export(export_path, fmt)
    except ExportFileError as exc:
        fail(str(exc), 2)


@app.command("draft")
def mapping_draft(
    export: Annotated[Path, typer.Argument(help="The registry export (any file `import` reads).")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the draft (default: print it).")
    ] = None,
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
        fail(str(exc), 2)
    import pandas as pd

    text = draft_mapping(
        opened, frame if frame is not None else pd.DataFrame(columns=opened.header)
    )
    if out is None:
        typer.echo(text, nl=False)
        return
    if out.exists():
        fail(f"{out} exists; a draft never overwrites a mapping (choose another --out)", 2)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    confirm = text.count("\n  - ")
    typer.echo(
        f"wrote {out}: {confirm} guesses to confirm (listed under `confirm:`); then "
        f"`relapse-risk mapping check {out} {export}`",
        err=True,
    )


@app.command("check")
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
        fail(str(exc), 2)
    opened = _open_for_mapping(export, loaded, None)
    typer.echo(opened.describe())
    try:
        report = check_mapping(opened, loaded, opened.chunks(chunk_size))
    except (MappingError, ExportFileError) as exc:
        fail(str(exc), 2)
    typer.echo("\n".join(report.lines(loaded)))
    raise typer.Exit(0 if report.accepted == report.rows and not loaded.confirm else 1)


@app.command("add")
def mapping_add(
    mapping: Annotated[Path, typer.Argument(help="Mapping file (YAML), every guess confirmed.")],
    name: Annotated[
        str,
        typer.Option(
            help="The name the service's /score_csv takes it by: "
            "lower-case letters, digits, '.', '_', '-'."
        ),
    ],
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
        fail(f"{mapping}: cannot be read ({exc.strerror or type(exc).__name__})", 2)
    try:
        record, created = MappingStore(Registry(registry)).add(data, name=name, source=mapping.name)
    except (MappingError, RegistryError) as exc:
        fail(str(exc), 2)
    verb = "stored" if created else "already stored (same file)"
    typer.echo(
        f"mapping {record['name']} {verb}: {len(record['fields'])} fields, sha256 "
        f"{record['file_sha256'][:12]}"
    )


@app.command("list")
def mapping_list(registry: RegistryOption = None) -> None:
    """Every stored mapping (verified)."""
    from features.text import escape
    from model_registry.mappings import MappingStore
    from model_registry.registry import Registry

    list_stored(
        MappingStore(Registry(registry)),
        "no stored mappings; `relapse-risk mapping add FILE --name NAME` stores one",
        # sources are the user's text: escaped
        lambda r: (
            f"{r['name']:24}  {len(r['fields']):3} fields  {escape(r['added'])}  "
            f"{escape(r['source'])}  sha256 {escape(r['file_sha256'][:12])}"
        ),
    )


@app.command("show")
def mapping_show(
    name: Annotated[str, typer.Argument(help="The stored mapping's name.")],
    registry: RegistryOption = None,
) -> None:
    """A stored mapping's record and file (verified)."""
    import json

    from model_registry.mappings import MappingStore
    from model_registry.registry import Registry, RegistryError

    try:
        stored = MappingStore(Registry(registry)).load(name)
    except RegistryError as exc:
        fail(str(exc), 2)
    typer.echo(f"mapping {stored.name} (integrity verified)")
    typer.echo(json.dumps(stored.record, indent=2, sort_keys=True))
    typer.echo(stored.text, nl=not stored.text.endswith("\n"))
