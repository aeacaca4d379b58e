"""Inputs that lie: a NUL that cuts a cell, a mapping that feeds one column to two fields or
says a key twice, a YAML alias bomb, an id that is a path, a patient_id that is a list."""

import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from batch.csv_import import import_csv
from batch.csv_scoring import errors_path_for, iter_chunks
from features.errors import SchemaError
from features.mapping import MAX_YAML_NODES, MappingError, load_mapping, parse_mapping
from features.text import CONTROL_MESSAGE, MAX_TEXT_LENGTH, escape
from features.validate import check_record, validate_frame
from model_registry.cohorts import CohortNotFound, CohortStore
from model_registry.registry import ModelNotFound, Registry
from relapse_risk.cli import app

IDENTITY = "columns: {patient_id: patient_id, age_years: age_years, ecog: ecog}\n"


def _nul_csv(tmp_path) -> Path:
    path = tmp_path / "nul.csv"
    path.write_bytes(
        b"patient_id,age_years,ecog\nSYN3\x00-0000005,61,1\nP2,4\x00 2,1\nP3,61,1\nP4,6\x011,0\n"
    )
    return path


def test_a_nul_byte_reaches_validation_whole_and_rejects_its_row(tmp_path):
    (chunk,) = iter_chunks(_nul_csv(tmp_path), 100)
    result = validate_frame(chunk)
    assert list(result.frame["patient_id"]) == ["P3"]
    assert result.errors.values.tolist() == [
        [1, "patient_id", "SYN3\\x00-0000005", CONTROL_MESSAGE],
        [2, "age_years", "4\\x00 2", CONTROL_MESSAGE],
        [4, "age_years", "6\\x011", CONTROL_MESSAGE],
    ]


def test_import_rejects_cells_with_control_characters_row_by_row(tmp_path):
    mapping = tmp_path / "ident.yaml"
    mapping.write_text(IDENTITY)
    out = tmp_path / "canonical.csv"
    summary = import_csv(_nul_csv(tmp_path), out, load_mapping(mapping))
    assert (summary.rows_read, summary.scored, summary.rejected) == (4, 1, 3)
    assert pd.read_csv(out, dtype=str)["patient_id"].tolist() == ["P3"]
    errors = pd.read_csv(errors_path_for(out), dtype=str)
    assert errors["row"].tolist() == ["1", "2", "4"]
    assert set(errors["error"]) == {CONTROL_MESSAGE}
    assert "\x00" not in errors_path_for(out).read_text()


@pytest.mark.parametrize("value", ["A\x00B", "A\nB", "A\x1bB", "altered\x00"])
def test_a_json_value_with_a_control_character_is_an_error(value):
    with pytest.raises(SchemaError, match="control character") as info:
        check_record(
            {"patient_id": value} if not value.startswith("altered") else {"tp53_status": value}
        )
    assert all(c not in info.value.errors[0].value for c in "\x00\n\x1b")


@pytest.mark.parametrize(
    "value, shown",
    [
        ([1, 2], "[1, 2] (a list)"),
        ({"a": 1}, "{'a': 1} (a dict)"),
        (True, "True (a boolean)"),
        (1.5, "1.5"),
    ],
)
def test_patient_id_must_be_a_string_or_an_integer(value, shown):
    with pytest.raises(SchemaError, match="patient_id: must be a string or an integer"):
        check_record({"patient_id": value})
    result = validate_frame(pd.DataFrame({"patient_id": [value, "P2", 7]}))
    assert result.errors[["row", "field", "value"]].values.tolist() == [[1, "patient_id", shown]]
    assert check_record({"patient_id": 17})["patient_id"] == "17"


def test_text_fields_have_a_bounded_length():
    long_id = "x" * (MAX_TEXT_LENGTH + 1)
    with pytest.raises(SchemaError, match=f"at most {MAX_TEXT_LENGTH} characters"):
        check_record({"patient_id": long_id})
    result = validate_frame(pd.DataFrame({"patient_id": [long_id, "x" * MAX_TEXT_LENGTH]}))
    assert result.errors["row"].tolist() == [1] and len(result.frame) == 1
    assert len(result.errors["value"].iloc[0]) < MAX_TEXT_LENGTH + 40  # shown bounded too


def test_escape_makes_any_text_one_safe_line():
    assert (
        escape("GET /livez\n2026-01-01 [INFO] forged\x00\ud800")
        == "GET /livez\\x0a2026-01-01 [INFO] forged\\x00\\ud800"
    )
    assert escape("a" * 1000, 10) == "aaaaaaaaaa... (1000 characters)"


# -- mapping mistakes ----------------------------------------------------------------------
def test_one_export_column_feeding_two_fields_is_refused_unless_declared():
    with pytest.raises(
        MappingError, match="columns.age_years and columns.ecog read the same export column 'ecog'"
    ):
        parse_mapping({"columns": {"age_years": "ecog", "ecog": "ecog"}})
    shared = parse_mapping(
        {"columns": {"age_years": "ecog", "ecog": "ecog"}, "shared_columns": ["ecog"]}
    )
    assert shared.columns == {"age_years": "ecog", "ecog": "ecog"}
    with pytest.raises(MappingError, match="shared_columns: 'Age' is not a column"):
        parse_mapping({"columns": {"age_years": "A"}, "shared_columns": ["Age"]})


@pytest.mark.parametrize(
    "text, key",
    [
        ("columns: {age_years: A, age_years: B}\n", "age_years"),
        ("columns: {age_years: A}\ncolumns: {ecog: B}\n", "columns"),
    ],
)
def test_a_key_given_twice_is_an_error(tmp_path, text, key):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MappingError, match=f"the key '{key}' is given twice"):
        load_mapping(path)


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\ncolumns: {age_years: *i}\n")
    assert path.stat().st_size < 500
    start = time.perf_counter()
    with pytest.raises(MappingError, match=f"more than {MAX_YAML_NODES} entries") as info:
        load_mapping(path)
    assert time.perf_counter() - start < 2 and len(str(info.value)) < 400


def test_anything_shown_in_a_mapping_message_is_bounded():
    huge = [[list(range(1000))] * 1000]  # a million items, shared like an alias expands
    with pytest.raises(MappingError) as info:
        parse_mapping({"columns": {"age_years": huge}, "units": {"tmtv_ml": huge}})
    assert len(str(info.value)) < 1000


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "is a directory, not a mapping file"),
        (lambda p: p.write_bytes(b"columns: {age_years: \xff}\n"), "is not UTF-8 text"),
    ],
)
def test_an_unreadable_mapping_is_a_one_line_error(tmp_path, make, message):
    path = tmp_path / "m.yaml"
    make(path)
    src = tmp_path / "e.csv"
    src.write_text("age_years\n61\n")
    result = CliRunner().invoke(
        app, ["import", str(src), "--mapping", str(path), "--out", str(tmp_path / "c.csv")]
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1 and not isinstance(result.exception, OSError)


# -- identifiers -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "version", ["../../other/versions/v0002", "v0001/../v0002", "/tmp", "v1", ""]
)
def test_a_version_that_is_not_an_id_is_refused_everywhere(tmp_path, version):
    reg = Registry(tmp_path / "reg")
    (tmp_path / "other" / "versions" / "v0002").mkdir(parents=True)
    for call in (reg.load, reg.promote, lambda v: reg.file(v, "model_card.md")):
        with pytest.raises(ModelNotFound, match="is not a version id"):
            call(version)
    result = CliRunner().invoke(app, ["registry", "promote", version, "--registry", str(reg.root)])
    assert result.exit_code == 2 and "is not a version id" in result.output


def test_a_forged_production_pointer_is_refused(tmp_path):
    reg = Registry(tmp_path)
    tmp_path.joinpath("stages.json").write_text(
        '{"production": "../../elsewhere/v0001", "stages": {}, "history": []}'
    )
    with pytest.raises(ModelNotFound, match="is not a version id"):
        reg.load()


@pytest.mark.parametrize("cohort_id", ["../versions/v0001", "c1", "c0001/..", "x0001"])
def test_a_cohort_id_that_is_not_an_id_is_refused(tmp_path, cohort_id):
    store = CohortStore(Registry(tmp_path))
    with pytest.raises(CohortNotFound, match="is not a cohort id"):
        store.load(cohort_id)
