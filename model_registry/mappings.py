"""Named mappings, stored like cohorts: what lets the service read a registry export.

A mapping `mappings/<name>/` holds the mapping file's bytes as given (`mapping.yaml`) and
`mapping.json` (name, source file name, date added, the canonical fields it reads, SHA-256 of
the file and a digest of the record). It is validated before it is stored (a draft whose
guesses are not all confirmed is refused), written under a temporary name and renamed into
place under the registry's lock, never changed afterwards (a new version of a mapping is a new
name), and verified on every read: the record against its digest, the file against its hash,
and the file validated again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import warnings
from dataclasses import dataclass

from features.mapping import Mapping, MappingError, loads_mapping
from features.text import show
from model_registry.registry import (
    IntegrityError,
    Registry,
    RegistryError,
    _digest,
    _publish_directory,
    _sha256,
    dir_mode_for,
)

FILE, RECORD_FILE = "mapping.yaml", "mapping.json"
# A name is a path component and travels in form fields and URLs: lower-case letters, digits,
# and . _ - inside, at most 64 characters. Anything else is refused before it becomes a path.
MAPPING_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
NAME_RULE = (
    "lower-case letters, digits, '.', '_' or '-', starting and ending with a letter "
    "or digit, at most 64 characters, e.g. cibmtr-forms-2025"
)
# A mapping file is a few dozen entries (features.mapping caps its YAML nodes); a file this
# large is not one.
MAX_BYTES = 1_000_000


class MappingNotFound(RegistryError):
    """No stored mapping with that name."""


class DamagedMappingWarning(UserWarning):
    """A stored mapping failed its checks and was skipped (the others are used)."""


@dataclass(frozen=True)
class StoredMapping:
    """A verified mapping: its record, its file's text and the validated mapping."""

    name: str
    record: dict
    text: str
    mapping: Mapping


def check_name(name) -> str:
    """`name` if it is a valid mapping name, else MappingNotFound saying what one looks like."""
    if not isinstance(name, str) or MAPPING_NAME.fullmatch(name) is None:
        raise MappingNotFound(f"{show(name)} is not a mapping name ({NAME_RULE})")
    return name


class MappingStore:
    """The named mappings of one registry directory (`<registry>/mappings/`)."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.root = registry.root / "mappings"

    def add(self, data: bytes, *, name: str, source: str) -> tuple[dict, bool]:
        """Validate a mapping file's bytes and store them under `name`; returns (record,
        created). The same bytes under the same name are not stored twice; other bytes under
        a stored name are refused (stored mappings never change).

        Raises MappingError (the file is not a usable mapping, every problem listed) or
        RegistryError (a bad name, a name taken by another mapping)."""
        check_name(name)
        if len(data) > MAX_BYTES:
            raise MappingError(
                source,
                [
                    f"{len(data):,} bytes; a mapping file is a few "
                    f"kilobytes (at most {MAX_BYTES:,} bytes)"
                ],
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MappingError(
                source, [f"is not UTF-8 text ({exc.reason} at byte {exc.start})"]
            ) from None
        mapping = loads_mapping(text, source=source)  # refuses unconfirmed guesses too
        digest = _sha256(data)
        with self.registry._locked():
            if (self.root / name).exists():
                record = self._record(name)
                if record["file_sha256"] == digest:
                    return record, False
                raise RegistryError(
                    f"a different mapping is already stored as {name!r} (added "
                    f"{record['added']}, sha256 {record['file_sha256'][:12]}); stored mappings "
                    "never change: store this one under a new name"
                )
            if not self.root.exists():
                self.root.mkdir()
                os.chmod(self.root, dir_mode_for(self.registry.file_mode))
            record = {
                "name": name,
                "source": source,
                "file_sha256": digest,
                "fields": sorted(set(mapping.columns) | {f"dates.{r}" for r in mapping.dates}),
                "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            record["integrity"] = _digest(record)
            _publish_directory(
                self.registry.root,
                self.root / name,
                {FILE: data, RECORD_FILE: json.dumps(record, indent=2, sort_keys=True).encode()},
                self.registry.file_mode,
            )
        return record, True

    def _record(self, name: str) -> dict:
        check_name(name)
        path = self.root / name / RECORD_FILE
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            known = ", ".join(r["name"] for r in self.list()) or "none yet"
            raise MappingNotFound(
                f"no stored mapping named {name!r} (stored: {known}; "
                "`relapse-risk mapping add FILE --name NAME` stores one)"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IntegrityError(
                f"mapping {name}: {RECORD_FILE} is not valid JSON ({exc})"
            ) from exc
        except OSError as exc:
            raise IntegrityError(
                f"mapping {name}: {RECORD_FILE} cannot be read ({exc.strerror})"
            ) from exc
        if (
            not isinstance(record, dict)
            or record.get("integrity") != _digest(record)
            or record.get("name") != name
        ):
            raise IntegrityError(
                f"mapping {name}: its record does not match its digest (edited or damaged)"
            )
        return record

    def load(self, name: str) -> StoredMapping:
        """The stored mapping, verified against its record and validated again."""
        record = self._record(name)
        try:
            data = (self.root / name / FILE).read_bytes()
        except OSError as exc:
            raise IntegrityError(f"mapping {name}: {FILE} cannot be read ({exc.strerror})") from exc
        if _sha256(data) != record["file_sha256"]:
            raise IntegrityError(
                f"mapping {name}: {FILE} does not match its SHA-256 (truncated or tampered)"
            )
        text = data.decode("utf-8")
        try:
            mapping = loads_mapping(text, source=f"mapping {name}")
        except MappingError as exc:  # valid when stored: this code changed since
            raise IntegrityError(f"mapping {name} no longer validates: {exc}") from exc
        return StoredMapping(name, record, text, mapping)

    def list(self) -> list[dict]:
        """Every stored mapping's record (verified), by name. A damaged one is skipped with a
        DamagedMappingWarning: it never blocks the others (see `check`)."""
        records, problems = self.check()
        for problem in problems:
            warnings.warn(f"{problem}; skipped", DamagedMappingWarning, stacklevel=2)
        return records

    def check(self) -> tuple[list[dict], list[str]]:
        """(verified records, by name; one message per mapping that failed its checks)."""
        if not self.root.exists():
            return [], []
        records, problems = [], []
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and MAPPING_NAME.fullmatch(path.name):
                try:
                    records.append(self.load(path.name).record)  # the file verified too
                except RegistryError as exc:
                    problems.append(str(exc))
        return records, problems
