"""The mapping store: validated before storing, immutable, hashed, verified on every read,
names checked before they become paths, a damaged mapping reported (not a crash)."""

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.mapping import MappingError, load_mapping
from model_registry.mappings import (
    DamagedMappingWarning,
    MappingNotFound,
    MappingStore,
)
from model_registry.registry import IntegrityError, Registry, RegistryError
from relapse_risk.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registry_mapping.yaml"


@pytest.fixture
def store(tmp_path):
    return MappingStore(Registry(tmp_path / "reg"))


def test_a_stored_mapping_reads_back_identical_and_verified(store):
    data = EXAMPLE.read_bytes()
    record, created = store.add(data, name="example-registry", source=EXAMPLE.name)
    assert created and record["name"] == "example-registry"
    assert record["source"] == "registry_mapping.yaml" and "tp53_status" in record["fields"]
    loaded = store.load("example-registry")
    assert loaded.text.encode() == data and loaded.record == record
    expected = load_mapping(EXAMPLE)
    assert (
        loaded.mapping.columns,
        loaded.mapping.values,
        loaded.mapping.units,
        loaded.mapping.dates,
        loaded.mapping.date_format,
    ) == (expected.columns, expected.values, expected.units, expected.dates, expected.date_format)
    assert loaded.mapping.source == "mapping example-registry"
    assert [r["name"] for r in store.list()] == ["example-registry"]
    # Owner-only like the rest of the registry.
    assert stat.S_IMODE((store.root / "example-registry" / "mapping.yaml").stat().st_mode) == 0o600


def test_the_same_file_is_not_stored_twice_and_a_name_never_changes(store):
    data = EXAMPLE.read_bytes()
    store.add(data, name="example", source="a.yaml")
    record, created = store.add(data, name="example", source="b.yaml")
    assert not created and record["source"] == "a.yaml"
    other = data.replace(b'"Patient ID"', b'"Patient"')
    with pytest.raises(RegistryError, match="already stored as 'example'.*new name"):
        store.add(other, name="example", source="c.yaml")
    assert store.load("example").text.encode() == data
    store.add(other, name="example-2", source="c.yaml")
    assert [r["name"] for r in store.list()] == ["example", "example-2"]


def test_a_mapping_is_validated_before_it_is_stored(store):
    with pytest.raises(MappingError, match="unknown canonical field 'age'"):
        store.add(b"columns: {age: Age}\n", name="bad", source="bad.yaml")
    with pytest.raises(MappingError, match="not yet confirmed"):
        store.add(
            b"columns: {ecog: ECOG}\nconfirm: [ecog from ECOG]\n", name="draft", source="draft.yaml"
        )
    with pytest.raises(MappingError, match="not UTF-8"):
        store.add(b"columns: {ecog: \xff}\n", name="latin", source="latin.yaml")
    assert not store.root.exists() or not any(store.root.iterdir())


@pytest.mark.parametrize(
    "name", ["../other", "Example", "-x", "a/b", "", "x" * 65, None, ".hidden", "ex ample"]
)
def test_names_are_checked_before_they_become_paths(store, name):
    with pytest.raises(MappingNotFound, match="is not a mapping name"):
        store.add(EXAMPLE.read_bytes(), name=name, source="m.yaml")
    with pytest.raises(MappingNotFound, match="is not a mapping name"):
        store.load(name)


def test_an_unknown_name_says_what_is_stored(store):
    store.add(EXAMPLE.read_bytes(), name="example", source="m.yaml")
    with pytest.raises(
        MappingNotFound,
        match=r"no stored mapping named 'other' \(stored: "
        r"example;",
    ):
        store.load("other")


def test_tampering_is_detected_on_every_read_and_the_others_still_listed(store):
    store.add(EXAMPLE.read_bytes(), name="good", source="m.yaml")
    for name in ("edited-file", "edited-record", "truncated-record"):
        store.add(EXAMPLE.read_bytes(), name=name, source="m.yaml")
    (store.root / "edited-file" / "mapping.yaml").write_bytes(
        EXAMPLE.read_bytes().replace(b'"ECOG PS"', b'"Age"')
    )
    path = store.root / "edited-record" / "mapping.json"
    record = json.loads(path.read_text())
    record["source"] = "forged.yaml"
    path.write_text(json.dumps(record))
    (store.root / "truncated-record" / "mapping.json").write_bytes(b'{"name": "trun')
    with pytest.raises(IntegrityError, match="mapping.yaml does not match its SHA-256"):
        store.load("edited-file")
    with pytest.raises(IntegrityError, match="does not match its digest"):
        store.load("edited-record")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        store.load("truncated-record")
    with pytest.warns(DamagedMappingWarning) as caught:
        assert [r["name"] for r in store.list()] == ["good"]
    assert len(caught) == 3
    # A damaged name is not overwritten by add: it is reported.
    with pytest.raises(IntegrityError):
        store.add(EXAMPLE.read_bytes(), name="edited-record", source="m.yaml")


def test_the_cli_adds_lists_and_shows_and_reports_damage(tmp_path):
    runner = CliRunner()
    reg = str(tmp_path / "reg")
    empty = runner.invoke(app, ["mapping", "list", "--registry", reg])
    assert empty.exit_code == 0 and "no stored mappings" in empty.output
    added = runner.invoke(
        app, ["mapping", "add", str(EXAMPLE), "--name", "example", "--registry", reg]
    )
    assert added.exit_code == 0, added.output
    assert added.output.startswith("mapping example stored: ")
    again = runner.invoke(
        app, ["mapping", "add", str(EXAMPLE), "--name", "example", "--registry", reg]
    )
    assert again.exit_code == 0 and "already stored (same file)" in again.output
    bad = runner.invoke(app, ["mapping", "add", str(EXAMPLE), "--name", "../x", "--registry", reg])
    assert bad.exit_code == 2 and "is not a mapping name" in bad.output
    listed = runner.invoke(app, ["mapping", "list", "--registry", reg])
    assert listed.exit_code == 0 and listed.output.startswith("example ")
    shown = runner.invoke(app, ["mapping", "show", "example", "--registry", reg])
    assert shown.exit_code == 0 and "(integrity verified)" in shown.output
    assert 'patient_id: "Patient ID"' in shown.output
    (tmp_path / "reg" / "mappings" / "example" / "mapping.yaml").write_text("columns: {}\n")
    damaged = runner.invoke(app, ["mapping", "list", "--registry", reg])
    assert damaged.exit_code == 4 and "does not match its SHA-256" in damaged.output
    assert runner.invoke(app, ["mapping", "show", "example", "--registry", reg]).exit_code == 2
