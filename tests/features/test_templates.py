"""The registry templates in examples/: each mapping imports its fake export with every row
accepted, the exports are what examples/make_template_exports.py writes, and what a template
leaves out on purpose stays out (a Karnofsky score is rejected by ecog's range, not read)."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from batch.csv_import import import_csv
from features.mapping import load_mapping
from relapse_risk.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATES = [
    ("cibmtr_forms_mapping.yaml", "cibmtr_forms_export.csv"),
    ("ebmt_med_a_mapping.yaml", "ebmt_med_a_export.xlsx"),
]


def _maker():
    spec = importlib.util.spec_from_file_location(
        "make_template_exports", EXAMPLES / "make_template_exports.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mapping, export", TEMPLATES)
def test_each_template_imports_its_export_cleanly(tmp_path, mapping, export):
    out = tmp_path / "canonical.csv"
    result = CliRunner().invoke(
        app,
        [
            "import",
            str(EXAMPLES / export),
            "--mapping",
            str(EXAMPLES / mapping),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rows read 40, accepted 40, rejected 0" in result.output
    rows = pd.read_csv(out)
    assert len(rows) == 40 and rows["pfs_months"].notna().all()
    assert rows["stage"].dropna().between(1, 4).all() and rows["stage"].notna().sum() > 30
    assert rows["age_years"].between(18, 100).all()
    text = (EXAMPLES / mapping).read_text()
    assert "CONFIRMED" in text and "NOT CONFIRMED" in text  # each says what it could confirm


def test_the_template_exports_are_what_the_script_writes():
    maker = _maker()
    source = maker._source()
    shipped = pd.read_csv(EXAMPLES / "cibmtr_forms_export.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(shipped, maker.cibmtr_export(source).astype(str))
    workbook = pd.read_excel(EXAMPLES / "ebmt_med_a_export.xlsx", engine="calamine")
    expected = maker.ebmt_export(source)
    assert list(workbook.columns) == list(expected.columns) and len(workbook) == 40
    pd.testing.assert_series_equal(
        workbook["Date of cellular therapy"],
        expected["Date of cellular therapy"],
        check_dtype=False,
    )


def test_a_karnofsky_score_in_the_ebmt_export_is_rejected_not_read_as_ecog(tmp_path):
    maker = _maker()
    export = maker.ebmt_export(maker._source())
    export.loc[5, ["Performance score system", "Performance score"]] = ["Karnofsky", 80]
    path = tmp_path / "kps.xlsx"
    export.to_excel(path, index=False, sheet_name="MED-A export")
    summary = import_csv(
        path, tmp_path / "out.csv", load_mapping(EXAMPLES / "ebmt_med_a_mapping.yaml")
    )
    errors = pd.read_csv(tmp_path / "out.errors.csv")
    assert (summary.scored, summary.rejected) == (39, 1)
    assert errors[["row", "field"]].values.tolist() == [[6, "Performance score (ecog)"]]
