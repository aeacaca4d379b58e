"""`registry list | show | promote | rollback`."""

from __future__ import annotations

from typing import Annotated

import typer

from relapse_risk.cli.common import (
    RegistryOption,
    fail,
)

app = typer.Typer(no_args_is_help=True, help="List, inspect, promote, roll back.")


@app.command("list")
def registry_list(registry: RegistryOption = None) -> None:
    """Every version with its stage."""
    from model_registry.registry import Registry

    rows = Registry(registry).list()
    if not rows:
        typer.echo("the registry is empty; run `relapse-risk train`")
    for r in rows:
        champions = ", ".join(f"{k}={v}" for k, v in (r["champion"] or {}).items())
        typer.echo(
            f"{r['version']}  {r['stage']:10}  {r['created'] or '?':25}  {champions}"
            + (f"  parent {r['parent']}" if r["parent"] else "")
        )


@app.command("show")
def registry_show(
    version: Annotated[str | None, typer.Argument(help="Version (default: production).")] = None,
    registry: RegistryOption = None,
) -> None:
    """Verified metadata and model card of a version."""
    from model_registry.registry import Registry, RegistryError
    from training.cohort import describe_lineage
    from training.updating.lineage import updates_along

    reg = Registry(registry)
    try:
        loaded = reg.load(version)
    except RegistryError as exc:
        fail(str(exc), 2)
    meta = loaded.metadata
    typer.echo(f"version {loaded.version} (integrity verified)")
    typer.echo(
        f"created {meta['created']}; schema {meta['schema_version']}; parent "
        f"{meta.get('parent_version')}"
    )
    typer.echo("trained on: " + "; ".join(describe_lineage(meta["cohort"])))
    for update in updates_along(reg, loaded):
        typer.echo(
            f"updated ({update['version']}, {update['method']}) on: "
            + "; ".join(describe_lineage(update["cohort"]))
        )
    for lm, info in meta["landmarks"].items():
        m = info["metrics"][info["family"]]
        typer.echo(
            f"  {lm}: {info['family']}  Uno C {m['uno_c']:.3f}  AUC12 "
            f"{m['auc_12m']:.3f}  ONNX parity {info['onnx_parity_max_abs']:.1e}"
        )
    typer.echo("")
    typer.echo(reg.file(loaded.version, "model_card.md").decode())


@app.command("promote")
def registry_promote(version: str, registry: RegistryOption = None) -> None:
    """Make a version production (the current one is archived)."""
    from model_registry.registry import Registry, RegistryError

    try:
        previous = Registry(registry).promote(version)
    except RegistryError as exc:
        fail(str(exc), 2)
    typer.echo(f"{version} is production" + (f" (was {previous})" if previous else ""))


@app.command("rollback")
def registry_rollback(registry: RegistryOption = None) -> None:
    """Return production to the version it replaced."""
    from model_registry.registry import Registry, RegistryError

    try:
        version = Registry(registry).rollback()
    except RegistryError as exc:
        fail(str(exc), 2)
    typer.echo(f"rolled back: {version} is production")
