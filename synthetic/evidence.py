"""The evidence table: published figures with their sources, as data.

Loaded from `synthetic/data/evidence.json`; calibration and the generator fit read it here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from features.errors import EvidenceError


@dataclass(frozen=True)
class Evidence:
    """One published figure.

    `check` holds the project's tolerance: {"absolute": d}, {"relative": r}, {"factor": f},
    {"range": [lo, hi]}, {"above": x} or {"ci": true} (within the published 95% CI).
    """

    id: str
    source: str
    quantity: str
    value: float | None
    ci: tuple[float, float] | None
    unit: str | None
    endpoint: str
    population: str
    covariates: tuple[str, ...]
    method: str | None
    check: dict | None
    required: bool

    def acceptance_interval(self) -> tuple[float, float]:
        """The interval a simulated value must fall in to pass."""
        c = self.check or {}
        v = self.value
        if "absolute" in c:
            return v - c["absolute"], v + c["absolute"]
        if "relative" in c:
            return v * (1 - c["relative"]), v * (1 + c["relative"])
        if "factor" in c:
            return v / c["factor"], v * c["factor"]
        if "range" in c:
            return tuple(c["range"])
        if "above" in c:
            return c["above"], float("inf")
        if c.get("ci"):
            return tuple(self.ci)
        raise EvidenceError(f"evidence {self.id}: unknown check {c!r}")

    def describe_check(self) -> str:
        c = self.check or {}
        if "absolute" in c:
            return f"±{c['absolute']:g}"
        if "relative" in c:
            return f"±{100 * c['relative']:g}%"
        if "factor" in c:
            return f"×/÷{c['factor']:g}"
        if "range" in c:
            return f"{c['range'][0]:g}-{c['range'][1]:g}"
        if "above" in c:
            return f"> {c['above']:g}"
        return "within CI" if c.get("ci") else ""


def load_evidence() -> dict[str, Evidence]:
    """All entries of the shipped evidence table, by id."""
    raw = json.loads((resources.files("synthetic") / "data" / "evidence.json").read_text())
    entries = {}
    for item in raw["entries"]:
        try:
            ev = Evidence(
                id=item["id"],
                source=item["source"],
                quantity=item["quantity"],
                value=item["value"],
                ci=tuple(item["ci"]) if item["ci"] else None,
                unit=item["unit"],
                endpoint=item["endpoint"],
                population=item["population"],
                covariates=tuple(item["covariates"]),
                method=item["method"],
                check=item["check"],
                required=bool(item["required"]),
            )
        except KeyError as exc:
            raise EvidenceError(f"evidence entry {item.get('id')!r} lacks {exc}") from exc
        if ev.source not in raw["sources"]:
            raise EvidenceError(f"evidence {ev.id}: unknown source {ev.source!r}")
        if ev.check is not None:
            ev.acceptance_interval()
        entries[ev.id] = ev
    return entries
