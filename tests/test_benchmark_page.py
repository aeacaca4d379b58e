"""The benchmark page is rendered from the benchmark record, never typed: the committed page
equals the rendering of `benchmarks/results.json`, and its figures follow the file."""

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import record  # noqa: E402

RESULTS = json.loads(record.RESULTS.read_text())
TEMPLATE = record.TEMPLATE.read_text()


def test_the_record_holds_each_figure_with_its_floor_ratio_commit_and_cores():
    for name in ("batch", "import", "serving"):
        entry = RESULTS[name]
        assert entry["commit"] and entry["cores"] >= 1 and entry["date"]
        for f in entry["figures"]:
            assert f["floor"] > 0 and f["ratio"] == pytest.approx(f["value"] / f["floor"])


def test_the_committed_page_is_the_rendering_of_the_record():
    page = record.PAGE.read_text()
    assert page.split("\n", 1)[1] == record.render(TEMPLATE, RESULTS)


def test_every_recorded_figure_is_on_the_page():
    page = record.render(TEMPLATE, RESULTS)
    for entry in (RESULTS[name] for name in ("batch", "import", "serving")):
        assert entry["commit"] in page
        for f in entry["figures"]:
            row = next(line for line in page.splitlines() if line.startswith(f"| {f['name']} |"))
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[1].split()[0] == f"{f['value']:,.2f}"
            assert cells[2].endswith(f"{f['floor']:,.2f} {f['unit']}")
            assert cells[3] == f"{f['ratio']:.2f}"
    for key, value in RESULTS["serving"]["notes"].items():
        assert f"{{{{ serving.notes.{key} }}}}" not in page and (
            key not in TEMPLATE or value in page
        )


def test_a_changed_record_changes_the_page():
    changed = copy.deepcopy(RESULTS)
    f = changed["batch"]["figures"][0]
    f["value"], f["floor"], f["ratio"] = 12.34, 5.67, 12.34 / 5.67
    page = record.render(TEMPLATE, changed)
    assert "| 12.34 s |" in page and ": 5.67 s |" in page and "| 2.18 |" in page
    assert page != record.render(TEMPLATE, RESULTS)


def test_a_figure_the_record_lacks_is_an_error_not_a_blank():
    with pytest.raises(KeyError, match="make bench"):
        record.render("{{ nonesuch }}", RESULTS)
