"""Registry files as analysts hold them: one table written as a UTF-8 CSV, a semicolon /
decimal-comma / Windows-1252 CSV, an Excel workbook and Stata, SPSS and SAS transport files
imports through one mapping to the same canonical rows; dialects are detected and said; a
wrong guess is an error that names the likely delimiter."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from batch.csv_import import import_csv
from batch.csv_scoring import InputFileError
from features.mapping import parse_mapping
from features.readers import ExportFileError, FileFormat, as_text, open_export, typed_cells
from features.validate import validate_frame
from synthetic.exports import DATE_FORMAT, registry_export
from synthetic.generator import canonical, simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NUMBER_COLUMNS = ("ldh_ukat_l", "ldh_uln_ukat_l", "tmtv_cm3", "car_t_peak_cells_ul")
INTEGER_COLUMNS = ("ecog_ps", "extranodal_sites", "ipi", "aaipi", "prior_lines")
DATE_COLUMNS = (
    "date_of_birth",
    "infusion_date",
    "progression_date",
    "date_of_death",
    "last_contact",
)
STAGES = {"I": 1, "II": 2, "III": 3, "IV": 4}


def _safe(name: str) -> str:
    """A column name valid in Stata, SPSS and SAS (letters, digits, underscores)."""
    return re.sub(r"\W+", "_", name).strip("_").lower()


@pytest.fixture(scope="module")
def table():
    """The example export of 400 synthetic patients with names every format accepts, a TP53
    code outside ASCII ("muté") and a centre with accents."""
    frame = validate_frame(
        canonical(simulate(400, 11)), require_outcomes=True, nan_is_missing=True
    ).frame.reset_index(drop=True)
    export = registry_export(frame, 11).rename(columns=_safe)
    export["tp53"] = export["tp53"].replace({"mutated": "muté"})
    export["centre"] = np.where(np.arange(len(export)) % 2, "Besançon", "Créteil")
    return export


@pytest.fixture(scope="module")
def mapping_raw():
    raw = yaml.safe_load((EXAMPLES / "registry_mapping.yaml").read_text())
    raw["columns"] = {k: _safe(v) for k, v in raw["columns"].items()}
    raw["dates"] = {k: v if k == "format" else _safe(v) for k, v in raw["dates"].items()}
    raw["values"]["tp53_status"] = {"muté": "altered", "wt": "wild_type"}
    return raw


def _typed(export: pd.DataFrame) -> pd.DataFrame:
    """The table as a typed file holds it: numbers as numbers, dates as dates, blanks for
    unknown (no "NA" text)."""
    out = export.replace({"NA": np.nan, "": np.nan})
    for c in NUMBER_COLUMNS + INTEGER_COLUMNS:
        out[c] = pd.to_numeric(out[c])
    for c in DATE_COLUMNS:
        out[c] = pd.to_datetime(out[c], format=DATE_FORMAT, errors="coerce")
    return out


def _write(kind: str, export: pd.DataFrame, path: Path) -> Path:
    if kind == "utf8.csv":
        export.to_csv(path, index=False)
    elif kind == "dialect.csv":
        french = export.copy()
        for c in NUMBER_COLUMNS:
            french[c] = french[c].str.replace(".", ",", regex=False)
        french.to_csv(path, index=False, sep=";", encoding="cp1252")
    elif kind == "xlsx":
        _typed(export).to_excel(path, index=False, sheet_name="export")
    else:
        typed = _typed(export)
        # Stata and SPSS hold the stage as numbers with value labels, as registries do.
        typed["ann_arbor_stage"] = typed["ann_arbor_stage"].map(STAGES).astype(float)
        labels = {"ann_arbor_stage": {v: k for k, v in STAGES.items()}}
        for c in typed.columns:
            if typed[c].dtype == object:
                typed[c] = typed[c].fillna("")
        if kind == "dta":
            pyreadstat.write_dta(typed, str(path), variable_value_labels=labels)
        elif kind == "sav":
            pyreadstat.write_sav(typed, str(path), variable_value_labels=labels)
        else:
            typed["ann_arbor_stage"] = (
                typed["ann_arbor_stage"].map({v: k for k, v in STAGES.items()}).fillna("")
            )
            pyreadstat.write_xport(typed, str(path), table_name="EXPORT")
    return path


def _import(path: Path, mapping, tmp_path: Path, chunk_rows: int = 150):
    out = tmp_path / f"{path.name}.canonical.csv"
    summary = import_csv(path, out, mapping, chunk_rows=chunk_rows)
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    errors = pd.read_csv(
        tmp_path / f"{path.name}.canonical.errors.csv", dtype=str, keep_default_na=False
    )
    return summary, rows, errors


@pytest.mark.parametrize("kind", ["dialect.csv", "xlsx", "dta", "sav", "xpt"])
def test_every_format_imports_to_the_same_canonical_rows(tmp_path, table, mapping_raw, kind):
    mapping = parse_mapping(mapping_raw)
    reference = _import(_write("utf8.csv", table, tmp_path / "export.csv"), mapping, tmp_path)
    summary, rows, errors = _import(
        _write(kind, table, tmp_path / f"export.{kind}"), mapping, tmp_path
    )
    ref_summary, ref_rows, ref_errors = reference
    assert (summary.rows_read, summary.scored) == (ref_summary.rows_read, ref_summary.scored)
    assert summary.rows_read == len(table) and summary.scored > 0.9 * len(table)
    assert list(rows.columns) == list(ref_rows.columns)
    assert sorted(set(errors["row"])) == sorted(set(ref_errors["row"]))
    tolerant = kind == "xpt"  # SAS transport holds numbers as IBM floats (56-bit mantissa)
    for column in rows.columns:
        ours, theirs = rows[column], ref_rows[column]
        numeric = pd.to_numeric(theirs, errors="coerce")
        if tolerant and numeric.notna().any():
            np.testing.assert_allclose(
                pd.to_numeric(ours), numeric, rtol=1e-9, atol=1e-6, err_msg=column
            )
        else:
            assert ours.tolist() == theirs.tolist(), column
    assert summary.read_as and ("detected" in summary.read_as or kind != "dialect.csv")
    # The accents came through: "muté" (a code in the mapping) was read as altered.
    assert (rows["tp53_status"] == "altered").any()


def test_the_dialect_is_detected_and_said(tmp_path, table):
    export = open_export(_write("dialect.csv", table, tmp_path / "fr.csv"))
    assert (export.fmt.delimiter, export.fmt.decimal, export.fmt.encoding) == (";", ",", "cp1252")
    said = export.describe()
    assert "delimiter semicolon" in said and "decimal ','" in said and "cp1252" in said
    assert "detected" in said and not export.fast
    assert open_export(_write("utf8.csv", table, tmp_path / "en.csv")).fast


def test_a_declared_dialect_with_thousands_is_read_as_declared(tmp_path, mapping_raw, table):
    table = table.copy()
    table.loc[0, "tmtv_cm3"], table.loc[1, "tmtv_cm3"] = "1234.5", "12345.25"
    text = table.copy()
    # 1234.5 written 1.234,5 (German / French spreadsheets' default)
    for c in NUMBER_COLUMNS:
        numbers = pd.to_numeric(text[c], errors="coerce")
        text[c] = [
            (
                "NA"
                if np.isnan(v)
                else f"{v:,.4f}".replace(",", "_").replace(".", ",").replace("_", ".")
            )
            for v in numbers
        ]
    path = tmp_path / "de.txt"
    text.to_csv(path, index=False, sep="\t", encoding="latin-1")
    raw = dict(
        mapping_raw,
        file={"delimiter": "tab", "decimal": ",", "thousands": ".", "encoding": "latin-1"},
    )
    _, rows, _ = _import(path, parse_mapping(raw), tmp_path)
    _, ref, _ = _import(
        _write("utf8.csv", table, tmp_path / "en.csv"), parse_mapping(mapping_raw), tmp_path
    )
    assert rows["tmtv_ml"][:2].tolist() == ["1234.5", "12345.25"]  # read 1.234,5000
    np.testing.assert_allclose(
        pd.to_numeric(rows["tmtv_ml"]), pd.to_numeric(ref["tmtv_ml"]), atol=5e-5
    )


def test_a_header_read_as_one_column_names_the_likely_delimiter(tmp_path, mapping_raw):
    path = tmp_path / "semi.csv"
    path.write_text("ecog_ps;ipi;tp53\n1;2;wt\n")
    with pytest.raises(
        ExportFileError,
        match=r"read as one column .* the delimiter is likely "
        r"';' \(declare it in the mapping: file: "
        r"\{delimiter: ';'\}\)",
    ):
        open_export(path, FileFormat(delimiter=","))
    with pytest.raises(InputFileError, match="likely ';'"):
        import_csv(
            path, tmp_path / "o.csv", parse_mapping(dict(mapping_raw, file={"delimiter": ","}))
        )


@pytest.mark.parametrize(
    "section, message",
    [
        ({"delimiter": "#"}, "file.delimiter: '#' is not one of"),
        ({"decimal": ";"}, "file.decimal: ';' is not '.' or ','"),
        ({"decimal": ",", "delimiter": ","}, "a decimal comma needs another delimiter"),
        ({"encoding": "klingon"}, "file.encoding: unknown encoding 'klingon'"),
        ({"thousands": ",", "decimal": ","}, "is also the decimal mark"),
        ({"sheet": 1.5}, "file.sheet: a sheet name or a 0-based index"),
        ({"colour": "red"}, "file: unknown key 'colour'"),
    ],
)
def test_a_bad_file_section_is_refused(mapping_raw, section, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_mapping(dict(mapping_raw, file=section))


def test_typed_cells_stay_typed(tmp_path, table):
    path = _write("xlsx", table, tmp_path / "export.xlsx")
    frame = open_export(path).read()
    assert pd.api.types.is_datetime64_any_dtype(frame["infusion_date"])
    assert pd.api.types.is_float_dtype(frame["tmtv_cm3"])
    assert str(frame["ecog_ps"].dtype) == "Int64"  # a code 1, not 1.0
    text = as_text(frame.head(3))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", text["infusion_date"][0])


def test_value_labels_are_offered_as_codes(tmp_path, table, mapping_raw):
    path = _write("sav", table, tmp_path / "export.sav")
    export = open_export(path)
    assert export.labels["ann_arbor_stage"] == {"1": "I", "2": "II", "3": "III", "4": "IV"}
    assert set(export.read()["ann_arbor_stage"].dropna()) <= set(STAGES)
    stored = open_export(path, FileFormat(value_labels=False)).read()["ann_arbor_stage"]
    assert set(stored.dropna()) <= {1, 2, 3, 4}
    # The stored codes can be mapped instead (file: {value_labels: false}).
    raw = dict(mapping_raw, file={"value_labels": False})
    raw["values"] = dict(raw["values"], stage={1: 1, 2: 2, 3: 3, 4: 4})
    summary = import_csv(path, tmp_path / "codes.csv", parse_mapping(raw))
    assert summary.scored > 0.9 * len(table)


def test_a_sheet_is_chosen_by_name_or_index(tmp_path, table):
    path = tmp_path / "two.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"notes": ["read me"]}).to_excel(writer, sheet_name="README", index=False)
        _typed(table).to_excel(writer, sheet_name="data", index=False)
    first = open_export(path)
    assert first.header == ["notes"] and "the first of 2 sheets" in first.describe()
    assert open_export(path, FileFormat(sheet="data")).header[0] == "patient_id"
    assert open_export(path, FileFormat(sheet=1)).header[0] == "patient_id"
    with pytest.raises(
        ExportFileError,
        match=r"no sheet 'Data' \(the sheets are README, "
        r"data\)",
    ):
        open_export(path, FileFormat(sheet="Data"))


def test_a_workbook_named_csv_is_said_to_be_one(tmp_path, table):
    path = _write("xlsx", table.head(5), tmp_path / "export.xlsx")
    disguised = tmp_path / "export.csv"
    disguised.write_bytes(path.read_bytes())
    with pytest.raises(ExportFileError, match=r"a zip archive \(an .xlsx or .ods workbook\?\)"):
        open_export(disguised)


def test_whole_number_columns_read_as_codes():
    frame = typed_cells(
        pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.5, 2.0, np.nan], "c": [1.0, "x", " "]})
    )
    assert str(frame["a"].dtype) == "Int64" and frame["b"].dtype == float
    assert frame["c"].tolist()[:2] == [1, "x"] and pd.isna(frame["c"][2])


def test_every_row_of_a_typed_file_ends_in_one_output(tmp_path, table, mapping_raw):
    broken = table.copy()
    broken.loc[7, "tp53"] = "pending"
    broken.loc[9, "ecog_ps"] = "7"
    path = _write("xlsx", broken, tmp_path / "broken.xlsx")
    summary, rows, errors = _import(path, parse_mapping(mapping_raw), tmp_path)
    rejected = set(errors["row"].astype(int))
    assert {8, 10} <= rejected
    assert summary.scored + len(rejected) == summary.rows_read == len(table)
    assert errors.loc[errors["row"] == "8", "field"].tolist() == ["tp53"]
    assert errors.loc[errors["row"] == "10", "field"].iloc[0] == "ecog_ps (ecog)"


@pytest.mark.parametrize("kind", ["xlsx", "dta", "dialect.csv"])
def test_cohort_add_stores_the_same_rows_from_any_format(tmp_path, table, mapping_raw, kind):
    """A cohort read from a workbook, a Stata file or a French CSV holds the rows of the same
    cohort read from the UTF-8 CSV; bit for bit (the store's content hash says "already
    stored") except from the workbook, whose writer keeps 16 significant digits."""
    from typer.testing import CliRunner

    from model_registry.cohorts import CohortStore
    from model_registry.registry import Registry
    from relapse_risk.cli import app

    mapping = tmp_path / "m.yaml"
    mapping.write_text(yaml.safe_dump(mapping_raw, allow_unicode=True), encoding="utf-8")
    registry = tmp_path / "registry"
    typed = _write(kind, table, tmp_path / f"export.{kind}")
    first = CliRunner().invoke(
        app,
        [
            "cohort",
            "add",
            str(typed),
            "--mapping",
            str(mapping),
            "--name",
            "typed",
            "--registry",
            str(registry),
        ],
    )
    assert first.exit_code == 0, first.output
    assert f"read {typed}" in first.output and "c0001 stored" in first.output
    again = CliRunner().invoke(
        app,
        [
            "cohort",
            "add",
            str(_write("utf8.csv", table, tmp_path / "export.csv")),
            "--mapping",
            str(mapping),
            "--name",
            "text",
            "--registry",
            str(registry),
        ],
    )
    assert again.exit_code == 0, again.output
    if kind != "xlsx":
        assert "c0001 already stored (same rows)" in again.output
        return
    store = CohortStore(Registry(registry))
    pd.testing.assert_frame_equal(
        store.load("c0001").frame.reset_index(drop=True),
        store.load("c0002").frame.reset_index(drop=True),
        check_exact=False,
        rtol=1e-14,
    )
