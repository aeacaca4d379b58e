"""Model versions on disk: artifacts, metadata, integrity hash, stages, promotion and rollback.

A version is a directory written under a temporary name and renamed into place, so it appears
whole or not at all; the stage file is replaced atomically; every write holds an exclusive
lock. Nothing is unpickled: artifacts are ONNX and JSON, verified by SHA-256 on every load.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model_registry.atomic import PARTIAL_PREFIX, fsync_dir, write_bytes

CANDIDATE, PRODUCTION, ARCHIVED = "candidate", "production", "archived"
STAGES = (CANDIDATE, PRODUCTION, ARCHIVED)
STAGING_PREFIX = ".staging-"
# What register() names a version: anything else given as a version is refused before it
# becomes a path (`registry promote ../../other/versions/v0002` must not reach outside).
if TYPE_CHECKING:  # types only: the service does not import the declarations
    from model_registry.metadata import VersionMetadata

VERSION_ID = re.compile(r"v[0-9]{4,9}")
DEFAULT_ROOT_ENV = "RELAPSE_RISK_REGISTRY"
DEFAULT_ROOT = "registry"
# Permissions of what the registry writes (versions, cohorts, stages.json): files get this
# mode, directories the same with search (x) added wherever read is allowed. The default
# keeps patient rows and models to their owner; 0640 lets a group (a replica's user) read a
# shared read-only volume, 0644 everyone.
FILE_MODE_ENV = "RELAPSE_RISK_REGISTRY_MODE"
DEFAULT_FILE_MODE = 0o600


class RegistryError(RuntimeError):
    """A registry operation that cannot be done as asked."""


class ModelNotFound(RegistryError):
    """No such version, or no production model yet."""


class IntegrityError(RegistryError):
    """An artifact or the metadata does not match its recorded hash (truncated or tampered)."""


class LeftoverWarning(UserWarning):
    """A killed writer's temporary files were found in the registry and removed."""


@dataclass(frozen=True)
class LoadedVersion:
    """A verified version: metadata and artifact bytes."""

    version: str
    metadata: VersionMetadata
    artifacts: dict[str, bytes]
    path: Path


def check_version_id(version) -> str:
    """`version` if it is a version id (vNNNN); ModelNotFound otherwise."""
    if not isinstance(version, str) or VERSION_ID.fullmatch(version) is None:
        from features.text import show

        raise ModelNotFound(
            f"{show(version)} is not a version id (v followed by four or "
            "more digits, e.g. v0001); `relapse-risk registry list` shows them"
        )
    return version


def default_root() -> Path:
    return Path(os.environ.get(DEFAULT_ROOT_ENV, DEFAULT_ROOT))


def default_file_mode() -> int:
    """$RELAPSE_RISK_REGISTRY_MODE as an octal mode (e.g. 0640), else 0600.

    Raises
    ------
    RegistryError
        Not an octal file mode, or one that would let others write (the registry's files are
        verified by hash, but a writable file invites tampering).
    """
    text = os.environ.get(FILE_MODE_ENV, "").strip()
    if not text:
        return DEFAULT_FILE_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or mode & 0o400 == 0 or mode & 0o022:
        raise RegistryError(
            f"{FILE_MODE_ENV} must be an octal file mode the owner can read and "
            f"only the owner write, such as 0600, 0640 or 0644; got "
            f"{text[:20]!r}"
        )
    return mode


def dir_mode_for(file_mode: int) -> int:
    """The directory mode that goes with a file mode: search wherever read is allowed."""
    return file_mode | 0o200 | ((file_mode & 0o444) >> 2)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest(metadata: dict) -> str:
    """Hash of the metadata (artifact hashes included) without its own integrity field."""
    body = {k: v for k, v in metadata.items() if k != "integrity"}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _publish_directory(
    staging_parent: Path, target: Path, files: dict[str, bytes], file_mode: int = DEFAULT_FILE_MODE
) -> None:
    """Write `files` under a temporary directory, fsync, and rename it to `target`: the
    directory appears whole or not at all (callers hold the registry's lock). Files get
    `file_mode`, directories `dir_mode_for(file_mode)`, whatever the umask."""
    staging = Path(tempfile.mkdtemp(dir=staging_parent, prefix=f"{STAGING_PREFIX}{target.name}-"))
    try:
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            _write_file(staging / name, data)
            os.chmod(staging / name, file_mode)
        for folder in {(staging / name).parent for name in files} | {staging}:
            os.chmod(folder, dir_mode_for(file_mode))
        fsync_dir(staging)
        os.rename(staging, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class Registry:
    """A model registry in a local directory.

    Parameters
    ----------
    root : path, optional
        Default: $RELAPSE_RISK_REGISTRY or ./registry. Created on first write.
    file_mode : int, optional
        Mode of the files it writes (directories: `dir_mode_for`). Default:
        $RELAPSE_RISK_REGISTRY_MODE, else 0600 (owner only).
    """

    def __init__(self, root: str | Path | None = None, file_mode: int | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._file_mode = file_mode

    @property
    def file_mode(self) -> int:
        """The mode of the files it writes (read from the environment on first use)."""
        if self._file_mode is None:
            self._file_mode = default_file_mode()
        return self._file_mode

    # -- paths and locking -------------------------------------------------------------
    @property
    def _versions(self) -> Path:
        return self.root / "versions"

    @property
    def _stage_file(self) -> Path:
        return self.root / "stages.json"

    @contextmanager
    def _locked(self):
        for folder in (self.root, self._versions):
            if not folder.exists():
                folder.mkdir(parents=True, exist_ok=True)
                os.chmod(folder, dir_mode_for(self.file_mode))
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                self._remove_leftovers()
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _remove_leftovers(self) -> list[str]:
        """Remove what a killed writer left (its staging directory, a half-written stage
        file) and say so. Called under the lock: every live writer holds it while its
        temporary files exist, so any found now belong to a writer that died."""
        found = sorted(
            p
            for p in self.root.iterdir()
            if p.name.startswith((STAGING_PREFIX, ".stages-", PARTIAL_PREFIX))
        )
        for path in found:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if found:
            warnings.warn(
                f"removed {len(found)} temporary item(s) left in {self.root} by an "
                f"interrupted write: {', '.join(p.name for p in found)}",
                LeftoverWarning,
                stacklevel=4,
            )
        return [p.name for p in found]

    def _read_stages(self) -> dict:
        try:
            return json.loads(self._stage_file.read_text())
        except FileNotFoundError:
            return {"production": None, "stages": {}, "history": [], "production_stack": []}
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{self._stage_file} is not valid JSON: {exc}") from exc

    def _write_stages(self, stages: dict) -> None:
        write_bytes(
            self._stage_file,
            json.dumps(stages, indent=2, sort_keys=True).encode(),
            mode=self.file_mode,
        )
        os.chmod(self._stage_file, self.file_mode)  # whatever the umask

    # -- writing -----------------------------------------------------------------------
    def register(
        self, artifacts: dict[str, bytes], metadata: dict, files: dict[str, bytes] | None = None
    ) -> str:
        """Add a version as a candidate and return its id.

        Parameters
        ----------
        artifacts : dict of name -> bytes
            Model artifacts (ONNX, JSON); hashed and verified on every load.
        metadata : dict
            JSON-serialisable description (schema hash, cohort hash, metrics, ...).
        files : dict of name -> bytes, optional
            Report, model card and plots; hashed too. Names may contain one sub-folder.
        """
        files = files or {}
        with self._locked():
            existing = sorted(p.name for p in self._versions.iterdir() if p.name.startswith("v"))
            number = 1 + max((int(n[1:]) for n in existing if n[1:].isdigit()), default=0)
            version = f"v{number:04d}"
            hashes = {name: _sha256(data) for name, data in {**artifacts, **files}.items()}
            full = {
                **metadata,
                "version": version,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "artifacts": {n: hashes[n] for n in artifacts},
                "files": {n: hashes[n] for n in files},
            }
            full["integrity"] = _digest(full)
            _publish_directory(
                self.root,
                self._versions / version,
                {
                    **artifacts,
                    **files,
                    "metadata.json": json.dumps(full, indent=2, sort_keys=True).encode(),
                },
                self.file_mode,
            )
            stages = self._read_stages()
            stages["stages"][version] = CANDIDATE
            stages["history"].append(self._event("register", version))
            self._write_stages(stages)
        return version

    @staticmethod
    def _event(action: str, version: str, previous: str | None = None) -> dict:
        return {
            "action": action,
            "version": version,
            "previous_production": previous,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def promote(self, version: str, expected_production: str | None = None) -> str | None:
        """Make `version` production (verified first); the previous one is archived.

        expected_production, when given, must still be production (a job that gated its
        challenger against one champion must not replace another). Returns the version that
        was production before, if any.
        """
        self.load(version)
        with self._locked():
            stages = self._read_stages()
            previous = stages["production"]
            if expected_production is not None and previous != expected_production:
                raise RegistryError(
                    f"production changed to {previous} while the challenger "
                    f"was gated against {expected_production}; not promoting"
                )
            if previous == version:
                return previous
            if previous is not None:
                stages["stages"][previous] = ARCHIVED
            stages["stages"][version] = PRODUCTION
            stages["production"] = version
            stages.setdefault("production_stack", []).append(version)
            stages["history"].append(self._event("promote", version, previous))
            self._write_stages(stages)
            return previous

    def rollback(self) -> str:
        """Return production to the version it replaced; the current one is archived."""
        with self._locked():
            stages = self._read_stages()
            stack = stages.setdefault("production_stack", [])
            current = stages["production"]
            if current is None:
                raise ModelNotFound("no production model to roll back")
            if len(stack) < 2:
                raise RegistryError(f"{current} has no earlier production version to roll back to")
            previous = stack[-2]
            self.load(previous)
            stack.pop()
            stages["stages"][current] = ARCHIVED
            stages["stages"][previous] = PRODUCTION
            stages["production"] = previous
            stages["history"].append(self._event("rollback", previous, current))
            self._write_stages(stages)
            return previous

    def export_version(self, version: str | None, target: str | Path) -> Registry:
        """Copy a verified version, byte for byte, into a new registry at `target` where it
        is the one version and in production (how a model travels inside a bento).

        The copy keeps its version id, metadata and hashes, so it is verified on every load
        there as here and its integrity digest names the same model.

        Raises
        ------
        RegistryError
            `target` already holds a registry.
        """
        loaded = self.load(version)
        target = Path(target)
        if (target / "stages.json").exists() or (target / "versions").exists():
            raise RegistryError(
                f"{target} already holds a registry; export into an empty directory"
            )
        copy = Registry(target, self.file_mode)
        with copy._locked():
            _publish_directory(
                target,
                copy._versions / loaded.version,
                {
                    name: (loaded.path / name).read_bytes()
                    for name in [
                        *loaded.metadata["artifacts"],
                        *loaded.metadata["files"],
                        "metadata.json",
                    ]
                },
                self.file_mode,
            )
            copy._write_stages(
                {
                    "production": loaded.version,
                    "stages": {loaded.version: PRODUCTION},
                    "production_stack": [loaded.version],
                    "history": [
                        {
                            **self._event("export", loaded.version),
                            "from_registry": str(self.root.resolve()),
                        }
                    ],
                }
            )
        copy.load(loaded.version)  # what was written is what was verified
        return copy

    # -- reading -----------------------------------------------------------------------
    def production(self) -> str | None:
        return self._read_stages()["production"]

    def list(self) -> list[dict]:
        """Every version with its stage and creation time, oldest first."""
        stages = self._read_stages()
        rows = []
        for version in sorted(v for v in stages["stages"] if VERSION_ID.fullmatch(v)):
            meta_path = self._versions / version / "metadata.json"
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                meta = {}
            rows.append(
                {
                    "version": version,
                    "stage": stages["stages"][version],
                    "created": meta.get("created"),
                    "champion": meta.get("champions"),
                    "parent": meta.get("parent_version"),
                }
            )
        return rows

    def load(self, version: str | None = None) -> LoadedVersion:
        """Read and verify a version (default: production).

        Raises
        ------
        ModelNotFound
            No such version, or none in production.
        IntegrityError
            Metadata or an artifact does not match its hash.
        """
        if version is None:
            version = self.production()
            if version is None:
                raise ModelNotFound(
                    f"no production model in {self.root}; run `relapse-risk train` first"
                )
        path = self._versions / check_version_id(version)
        try:
            metadata = json.loads((path / "metadata.json").read_text())
        except FileNotFoundError as exc:
            raise ModelNotFound(f"no version {version!r} in {self.root}") from exc
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{version}: metadata.json is not valid JSON") from exc
        if metadata.get("integrity") != _digest(metadata):
            raise IntegrityError(f"{version}: metadata does not match its integrity hash")
        artifacts = {}
        for name, expected in metadata["artifacts"].items():
            try:
                data = (path / name).read_bytes()
            except FileNotFoundError as exc:
                raise IntegrityError(f"{version}: artifact {name} is missing") from exc
            if _sha256(data) != expected:
                raise IntegrityError(
                    f"{version}: artifact {name} does not match its SHA-256 "
                    "(truncated or modified); refusing to load it"
                )
            artifacts[name] = data
        return LoadedVersion(version, metadata, artifacts, path)

    def file(self, version: str, name: str) -> bytes:
        """A verified report file of a version (report, model card, plot)."""
        loaded = self.load(version)
        expected = loaded.metadata["files"].get(name)
        if expected is None:
            raise ModelNotFound(f"{version} has no file {name!r}")
        data = (loaded.path / name).read_bytes()
        if _sha256(data) != expected:
            raise IntegrityError(f"{version}: {name} does not match its SHA-256")
        return data
