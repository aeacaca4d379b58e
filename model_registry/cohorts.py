"""Cohorts with outcomes, stored like model versions: the data side of the registry.

A cohort `cNNNN/` holds its validated canonical rows (`rows.parquet`) and `cohort.json`
(name, source file name, rows read/accepted/rejected, date added, schema version, content hash
of the rows, SHA-256 of the file and a digest of the record). It is written under a temporary
name and renamed into place under the registry's lock, never changed afterwards, and verified
on every read. Rows are identified by (cohort id, row within it): the key `cNNNN/row`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import warnings
from dataclasses import dataclass

import pandas as pd

from model_registry.registry import (
    IntegrityError,
    Registry,
    RegistryError,
    _digest,
    _publish_directory,
    _sha256,
    dir_mode_for,
)

ROWS_FILE, RECORD_FILE = "rows.parquet", "cohort.json"
# What add() names a cohort; any other id is refused before it becomes a path.
COHORT_ID = re.compile(r"c[0-9]{4,9}")


class CohortNotFound(RegistryError):
    """No cohort with that id in the store."""


class DamagedCohortWarning(UserWarning):
    """A stored cohort failed its checks and was skipped (the others are used)."""


@dataclass(frozen=True)
class StoredCohort:
    """A verified cohort: its record and its rows (index: the stable row keys)."""

    id: str
    record: dict
    frame: pd.DataFrame


def row_keys(cohort_id: str, n: int) -> pd.Index:
    """The stable keys of a stored cohort's rows: `cNNNN/000017` is its 18th accepted row."""
    return pd.Index([f"{cohort_id}/{i:06d}" for i in range(n)], name="row_key")


class CohortStore:
    """The cohorts of one registry directory (`<registry>/cohorts/`)."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.root = registry.root / "cohorts"

    def add(
        self,
        frame: pd.DataFrame,
        *,
        name: str,
        source: str,
        content_sha256: str,
        rows_read: int,
        rows_rejected: int,
        schema_version: str,
        mapping: str | None = None,
    ) -> tuple[str, bool]:
        """Store validated canonical rows; returns (id, created). Rows with the same content
        as a stored cohort are not stored twice: that cohort's id is returned."""
        table = frame.reset_index(drop=True)
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        with self.registry._locked():
            for record in self.list():  # a damaged cohort is skipped (and warned about)
                if record["content_sha256"] == content_sha256:
                    return record["id"], False
            if not self.root.exists():
                self.root.mkdir()
                os.chmod(self.root, dir_mode_for(self.registry.file_mode))
            existing = [p.name for p in self.root.iterdir() if p.name.startswith("c")]
            number = 1 + max((int(n[1:]) for n in existing if n[1:].isdigit()), default=0)
            cohort_id = f"c{number:04d}"
            record = {
                "id": cohort_id,
                "name": name,
                "source": source,
                "mapping": mapping,
                "rows_read": int(rows_read),
                "rows_accepted": int(len(table)),
                "rows_rejected": int(rows_rejected),
                "schema_version": schema_version,
                "content_sha256": content_sha256,
                "rows_file_sha256": _sha256(data),
                "columns": list(table.columns),
                "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            record["integrity"] = _digest(record)
            _publish_directory(
                self.registry.root,
                self.root / cohort_id,
                {
                    ROWS_FILE: data,
                    RECORD_FILE: json.dumps(record, indent=2, sort_keys=True).encode(),
                },
                self.registry.file_mode,
            )
        return cohort_id, True

    def _record(self, cohort_id: str) -> dict:
        if not isinstance(cohort_id, str) or COHORT_ID.fullmatch(cohort_id) is None:
            from features.text import show

            raise CohortNotFound(
                f"{show(cohort_id)} is not a cohort id (c followed by four "
                "or more digits, e.g. c0001); `relapse-risk cohort list` "
                "shows them"
            )
        path = self.root / cohort_id / RECORD_FILE
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            known = ", ".join(r["id"] for r in self.list()) or "none yet"
            raise CohortNotFound(
                f"no cohort {cohort_id!r} in {self.root} (stored: {known}; "
                "`relapse-risk cohort add` stores one)"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IntegrityError(
                f"cohort {cohort_id}: {RECORD_FILE} is not valid JSON ({exc})"
            ) from exc
        except OSError as exc:
            raise IntegrityError(
                f"cohort {cohort_id}: {RECORD_FILE} cannot be read ({exc.strerror})"
            ) from exc
        if not isinstance(record, dict) or record.get("integrity") != _digest(record):
            raise IntegrityError(
                f"cohort {cohort_id}: its record does not match its digest (edited or damaged)"
            )
        return record

    def load(self, cohort_id: str) -> StoredCohort:
        """The cohort's rows, verified against the recorded hashes."""
        record = self._record(cohort_id)
        data = (self.root / cohort_id / ROWS_FILE).read_bytes()
        if _sha256(data) != record["rows_file_sha256"]:
            raise IntegrityError(
                f"cohort {cohort_id}: {ROWS_FILE} does not match its SHA-256 "
                "(truncated or tampered)"
            )
        frame = pd.read_parquet(io.BytesIO(data))
        frame.index = row_keys(cohort_id, len(frame))
        return StoredCohort(cohort_id, record, frame)

    def list(self) -> list[dict]:
        """Every stored cohort's record (verified), oldest first. A damaged one is skipped
        with a DamagedCohortWarning: it never blocks the others (see `check`)."""
        records, problems = self.check()
        for problem in problems:
            warnings.warn(f"{problem}; skipped", DamagedCohortWarning, stacklevel=2)
        return records

    def check(self) -> tuple[list[dict], list[str]]:
        """(verified records, oldest first; one message per cohort that failed its checks)."""
        if not self.root.exists():
            return [], []
        records, problems = [], []
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and COHORT_ID.fullmatch(path.name):
                try:
                    records.append(self._record(path.name))
                except RegistryError as exc:
                    problems.append(str(exc))
        return records, problems
