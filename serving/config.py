"""Service settings from the environment, read at start-up (never at import).

The model comes from $RELAPSE_RISK_REGISTRY when it is set (a shared registry, followed for
promotions), else from the model the bento carries (see `serving.bento`), else ./registry.
"""

from __future__ import annotations

import os
import secrets
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from model_registry.registry import DEFAULT_ROOT_ENV, default_root

# The name under which a bento refers to the model it carries (bentofile `models: alias`).
MODEL_ALIAS = "relapse-risk-model"
# A generated key is 43 characters (256 random bits); a shorter one is warned about.
MIN_KEY_LENGTH = 16


class ConfigError(ValueError):
    """Settings the service cannot start with (a keys file without a key)."""


class KeyWarning(UserWarning):
    """An API key setting that works but is weaker than it should be."""


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
    """Keys from $RELAPSE_RISK_API_KEYS, else the keys file; the first start creates one.

    Raises
    ------
    ConfigError
        The keys file exists but holds no key (only comments or blank lines): a clear
        start-up error, not a second key file written over an operator's.

    Warns
    -----
    KeyWarning
        A key shorter than MIN_KEY_LENGTH, or a keys file other users can read. Warned, not
        refused: the file may be a secret mounted read-only by an orchestrator (often 0644,
        not ours to change), and refusing a working key would take a running service down
        on upgrade; the warning says what to do.
    """
    env = [k.strip() for k in os.environ.get("RELAPSE_RISK_API_KEYS", "").split(",")]
    if any(env):
        return _checked(tuple(k for k in env if k), "RELAPSE_RISK_API_KEYS")
    if keys_file.exists():
        try:
            text = keys_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"the API keys file {keys_file} cannot be read "
                f"({getattr(exc, 'strerror', None) or type(exc).__name__})"
            ) from None
        keys = [line.strip() for line in text.splitlines()]
        keys = [k for k in keys if k and not k.startswith("#")]
        if not keys:
            raise ConfigError(
                f"the API keys file {keys_file} holds no key (only comments or "
                "blank lines): add one key per line, or remove the file to have "
                "one generated"
            )
        mode = stat.S_IMODE(keys_file.stat().st_mode)
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.warn(
                f"the API keys file {keys_file} is readable by other users (mode "
                f"{mode:04o}): anyone on this machine who can read it can score "
                f"patients; chmod 600 {keys_file}",
                KeyWarning,
                stacklevel=3,
            )
        return _checked(tuple(keys), str(keys_file))
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# relapse-risk API keys, one per line\n{key}\n")
    print(
        f"relapse-risk: no API key was configured, so one was generated and stored in "
        f"{keys_file} (readable only by you). Send it as:\n"
        f'  curl -H "Authorization: Bearer $(tail -n1 {keys_file})" ...',
        flush=True,
    )
    return (key,)


def _checked(keys: tuple[str, ...], where: str) -> tuple[str, ...]:
    short = sum(len(k) < MIN_KEY_LENGTH for k in keys)
    if short:
        warnings.warn(
            f"{short} API key(s) in {where} shorter than {MIN_KEY_LENGTH} characters "
            "can be guessed by trying; a generated key has 43 (python -c 'import "
            "secrets; print(secrets.token_urlsafe(32))')",
            KeyWarning,
            stacklevel=4,
        )
    return keys
