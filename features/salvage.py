"""Published outcomes of treatments after CD19 CAR-T failure, as data with sources
(`features/data/salvage.json`): shown beside the prognosis at progression as evidence, never
as a recommendation. Owned here (not in `synthetic/`) because the service shows it."""

from __future__ import annotations

import json
from importlib import resources

from features.errors import EvidenceError


def load_salvage() -> dict:
    """The statement, the sources (citation and size) and the options; every option names
    a source the file lists."""
    raw = json.loads((resources.files("features") / "data" / "salvage.json").read_text())
    for item in raw["options"]:
        if item["source"] not in raw["sources"]:
            raise EvidenceError(
                f"salvage option {item['option']!r}: unknown source {item['source']!r}"
            )
    return raw
