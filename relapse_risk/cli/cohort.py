"""`cohort add | list | show`: cohorts with outcomes in the registry's store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.schema import PFS_EVENT, PFS_MONTHS
from relapse_risk.cli.common import (
    MappingOption,
    RegistryOption,
    fail,
    list_stored,
    read_cohort_arg,
)

app = typer.Typer(
    no_args_is_help=True, help="Cohorts with outcomes, stored immutably in the registry."
)


@app.command("add")
def cohort_add(
    source: Annotated[
        Path,
        typer.Argument(
            help="Cohort CSV with outcomes (canonical, or a registry export with --mapping)."
        ),
    ],
    name: Annotated[
        str,
        typer.Option(help="A name for the cohort (e.g. the registry and the date of the export)."),
    ],
    mapping: MappingOption = None,
    registry: RegistryOption = None,
) -> None:
    """Validate a cohort and store its accepted rows (Parquet, hashed, immutable)."""
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry
    from training.cohort import store_cohort

    data = read_cohort_arg(source, mapping, registry)
    cohort_id, created = store_cohort(CohortStore(Registry(registry)), data, name)
    verb = "stored" if created else "already stored (same rows)"
    typer.echo(
        f"{cohort_id} {verb}: {len(data.frame)} of {data.n_read} rows accepted, "
        f"{int(data.frame[PFS_EVENT].sum())} PFS events"
    )


@app.command("list")
def cohort_list(registry: RegistryOption = None) -> None:
    """Every stored cohort (verified)."""
    from features.text import escape
    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry

    list_stored(
        CohortStore(Registry(registry)),
        "no stored cohorts; `relapse-risk cohort add FILE --name NAME` stores one",
        # names and sources are the user's text: escaped, one line each
        lambda r: (
            f"{r['id']}  {escape(r['name']):24}  {r['rows_accepted']:7} rows  "
            f"(read {r['rows_read']}, rejected {r['rows_rejected']})  "
            f"{escape(r['added'])}  {escape(r['source'])}  "
            f"sha256 {escape(r['content_sha256'][:12])}"
        ),
    )


@app.command("show")
def cohort_show(
    cohort_id: Annotated[str, typer.Argument(help="Cohort id (cNNNN).")],
    registry: RegistryOption = None,
) -> None:
    """A stored cohort's record, outcomes and missingness (rows verified)."""
    import json

    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry, RegistryError

    try:
        stored = CohortStore(Registry(registry)).load(cohort_id)
    except RegistryError as exc:
        fail(str(exc), 2)
    typer.echo(f"cohort {cohort_id} (integrity verified)")
    typer.echo(json.dumps(stored.record, indent=2, sort_keys=True))
    frame = stored.frame
    typer.echo(
        f"PFS events {int(frame[PFS_EVENT].sum())} of {len(frame)}; median time to "
        f"a PFS event or censoring {frame[PFS_MONTHS].median():.1f} months"
    )
    from features.schema import PREDICTORS

    missing = frame[[c for c in PREDICTORS if c in frame.columns]].isna().mean()
    typer.echo(
        "predictors missing: " + ", ".join(f"{c} {v:.0%}" for c, v in missing.items() if v > 0)
    )
