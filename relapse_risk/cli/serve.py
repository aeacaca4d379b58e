"""`serve` and `bento build`: the service."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from relapse_risk.cli.common import (
    RegistryOption,
    fail,
)


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
        fail(str(exc), 2)
    reg = Registry()
    if reg.production() is None:
        typer.echo(f"no production model in {reg.root}: training the default model first", err=True)
        version, _ = train_version(synthetic_cohort(), reg, progress=sys.stderr.isatty())
        reg.promote(version)
        typer.echo(f"trained and promoted {version}", err=True)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    os.environ.setdefault(DEFAULT_ROOT_ENV, str(reg.root.resolve()))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(
        f"web calculator: http://{shown}:{port}/app/  (REST: POST /score, see /docs)", err=True
    )
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "serving.service:RelapseRisk",
            "--host",
            host,
            "--port",
            str(port),
        ],
    )


bento_app = typer.Typer(no_args_is_help=True, help="Package the service as a bento.")


@bento_app.command("build")
def bento_build(
    version: Annotated[
        str | None, typer.Option(help="Registry version to put inside (default: production).")
    ] = None,
    with_model: Annotated[
        bool,
        typer.Option(
            "--with-model/--without-model",
            help="Carry the model inside the bento, or read it from $RELAPSE_RISK_REGISTRY.",
        ),
    ] = True,
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
        fail(str(exc), 2)
    if model is not None:
        typer.echo(
            f"model {model.tag} (registry version {model.info.labels['registry_version']}) "
            "stored in BentoML's model store and carried by the bento"
        )
    typer.echo(
        f"built bento {bento.tag}\n  serve it:  bentoml serve {bento.tag}"
        + (
            ""
            if model is not None
            else "  (with RELAPSE_RISK_REGISTRY set to the registry to serve from)"
        )
    )
