"""A damaged cohort is reported and skipped, never blocking the others; what `cohort list`
prints of a record (its name, its source) is escaped, one line per cohort."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from model_registry.cohorts import CohortStore, DamagedCohortWarning
from model_registry.registry import Registry
from relapse_risk.cli import EXIT_DAMAGED, app

ROWS = pd.DataFrame({"age_years": [61.0, 70.0], "pfs_months": [3.0, 9.5], "pfs_event": [1.0, 0.0]})


def _add(store, name, rows=ROWS):
    return store.add(
        rows,
        name=name,
        source="export.csv",
        content_sha256=name,
        rows_read=len(rows),
        rows_rejected=0,
        schema_version="1.0.0",
    )[0]


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: f.write_text(json.dumps(json.loads(f.read_text()) | {"name": "edited"})),
        lambda f: f.write_text("{not json"),
        lambda f: f.write_text("[1, 2]"),
        lambda f: f.write_bytes(b"\xff\xfe"),
    ],
    ids=["edited", "not-json", "a-list", "not-utf8"],
)
def test_a_damaged_cohort_is_reported_and_skipped(tmp_path, damage):
    registry = Registry(tmp_path / "reg")
    store = CohortStore(registry)
    first, second = _add(store, "one"), _add(store, "two")
    damage(store.root / first / "cohort.json")
    with pytest.warns(DamagedCohortWarning, match=f"cohort {first}: .*skipped"):
        assert [r["id"] for r in store.list()] == [second]
    with pytest.warns(DamagedCohortWarning):  # adding still works, under a new id
        assert _add(store, "three") == "c0003"
    result = CliRunner().invoke(app, ["cohort", "list", "--registry", str(registry.root)])
    assert result.exit_code == EXIT_DAMAGED, result.output
    assert "c0002  two" in result.output and "c0003  three" in result.output
    assert (
        f"error: cohort {first}: " in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )


def test_cohort_list_escapes_what_it_prints(tmp_path):
    registry = Registry(tmp_path / "reg")
    store = CohortStore(registry)
    _add(store, "real\nc0099  forged cohort  1000 rows\x1b[2K")
    result = CliRunner().invoke(app, ["cohort", "list", "--registry", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1 and "\x1b" not in result.output
    assert "real\\x0ac0099  forged cohort" in result.output
