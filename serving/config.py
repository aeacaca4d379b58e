"""Service settings from the environment, read at start-up (never at import).

The model comes from $RELAPSE_RISK_REGISTRY when it is set (a shared registry, followed for
promotions), else from the model the bento carries (see `serving.bento`), else ./registry.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from model_registry.registry import DEFAULT_ROOT_ENV, default_root

# The name under which a bento refers to the model it carries (bentofile `models: alias`).
MODEL_ALIAS = "relapse-risk-model"


@dataclass(frozen=True)
class Settings:
    registry: Path
    model_source: str
    api_keys: tuple[str, ...]
    keys_file: Path
    max_body_bytes: int
    max_csv_bytes: int
    max_batch: int
    reload_seconds: float
    body_timeout_seconds: float


def load_settings() -> Settings:
    home = Path(os.environ.get("RELAPSE_RISK_HOME", ".relapse-risk"))
    keys_file = Path(os.environ.get("RELAPSE_RISK_API_KEYS_FILE", home / "api_keys"))
    registry, model_source = registry_root()
    return Settings(
        registry=registry,
        model_source=model_source,
        api_keys=_api_keys(keys_file),
        keys_file=keys_file,
        max_body_bytes=int(os.environ.get("RELAPSE_RISK_MAX_BODY_BYTES", 2_000_000)),
        max_csv_bytes=int(os.environ.get("RELAPSE_RISK_MAX_CSV_BYTES", 200_000_000)),
        max_batch=int(os.environ.get("RELAPSE_RISK_MAX_BATCH", 1000)),
        reload_seconds=float(os.environ.get("RELAPSE_RISK_RELOAD_SECONDS", 1.0)),
        body_timeout_seconds=float(os.environ.get("RELAPSE_RISK_BODY_TIMEOUT_SECONDS", 120)),
    )


def registry_root() -> tuple[Path, str]:
    """The registry directory the service reads, and where it came from ("registry" or
    "bento")."""
    if not os.environ.get(DEFAULT_ROOT_ENV):
        embedded = _embedded_model_path()
        if embedded is not None:
            return embedded, "bento"
    return default_root(), "registry"


def _embedded_model_path() -> Path | None:
    """The one-version registry inside the bento being served, if it carries a model.

    Only the bento's own reference (its MODEL_ALIAS) counts: outside a bento nothing is
    looked up, so a model store's latest entry is never picked by accident.
    """
    import bentoml

    # The bento loader records its models' aliases here; BentoML has no public accessor.
    from bentoml._internal.configuration.containers import BentoMLContainer

    if MODEL_ALIAS not in BentoMLContainer.model_aliases.get():
        return None
    return Path(bentoml.models.get(MODEL_ALIAS).path)


def _api_keys(keys_file: Path) -> tuple[str, ...]:
    """Keys from $RELAPSE_RISK_API_KEYS, else the keys file; the first start creates one."""
    env = [k.strip() for k in os.environ.get("RELAPSE_RISK_API_KEYS", "").split(",")]
    if any(env):
        return tuple(k for k in env if k)
    if keys_file.exists():
        keys = [line.strip() for line in keys_file.read_text().splitlines()]
        keys = [k for k in keys if k and not k.startswith("#")]
        if keys:
            return tuple(keys)
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# relapse-risk API keys, one per line\n{key}\n")
    print(f"relapse-risk: no API key was configured, so one was generated and stored in "
          f"{keys_file} (readable only by you). Send it as:\n"
          f"  curl -H \"Authorization: Bearer $(tail -n1 {keys_file})\" ...", flush=True)
    return (key,)
