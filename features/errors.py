"""Exception and warning classes shared by every stage.

Messages name the field, the value received and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.text import shorten


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one row.

    row is the 1-based data row (the header is not counted), or None for a problem with the
    table as a whole (an unknown or duplicate column).
    """

    row: int | None
    field: str
    value: str
    error: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        got = f" (got {shorten(self.value, 300)!r})" if self.value != "" else ""
        return f"{where}{self.field}: {self.error}{got}"

    def to_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "value": self.value, "error": self.error}


# Validation stops listing problems after this many: a request with 100,000 unknown fields
# costs what one with fifty does.
MAX_PROBLEMS = 50


class SchemaError(ValueError):
    """Input that does not follow the canonical schema; `.errors` lists every problem."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(shown + more)


class EvidenceError(ValueError):
    """The evidence table or the generator parameters are malformed."""


class CalibrationWarning(UserWarning):
    """A calibration figure could not be computed (too few patients, no events)."""
