"""Service settings from the environment, read at start-up (never at import)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from model_registry.registry import default_root


@dataclass(frozen=True)
class Settings:
    registry: Path
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
    return Settings(
        registry=default_root(),
        api_keys=_api_keys(keys_file),
        keys_file=keys_file,
        max_body_bytes=int(os.environ.get("RELAPSE_RISK_MAX_BODY_BYTES", 2_000_000)),
        max_csv_bytes=int(os.environ.get("RELAPSE_RISK_MAX_CSV_BYTES", 200_000_000)),
        max_batch=int(os.environ.get("RELAPSE_RISK_MAX_BATCH", 1000)),
        reload_seconds=float(os.environ.get("RELAPSE_RISK_RELOAD_SECONDS", 1.0)),
        body_timeout_seconds=float(os.environ.get("RELAPSE_RISK_BODY_TIMEOUT_SECONDS", 120)),
    )


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
