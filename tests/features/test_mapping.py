"""Registry exports through a mapping file: the mapping's own validation, units, dates, the
round trip of a synthetic cohort through a messy export, and the commands that take it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from batch.csv_import import import_csv
from features.encode import encode
from features.mapping import (
    NOMINAL_ULN_U_L,
    MappingError,
    apply_mapping,
    load_mapping,
    parse_mapping,
)
from features.validate import validate_frame
from relapse_risk.cli import app
from synthetic.exports import DATE_FORMAT, canonical_outcome_days, registry_export
from synthetic.generator import canonical, simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAPPING = EXAMPLES / "registry_mapping.yaml"


def _example() -> dict:
    return yaml.safe_load(MAPPING.read_text())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["columns"].update(ldh="LDH"), "columns: unknown canonical field 'ldh'"),
        (
            lambda m: m["values"]["stage"].update(V=5),
            "values.stage: code 'V' maps to 5, which is not an integer from 1 to 4",
        ),
        (
            lambda m: m["values"]["tp53_status"].update(mut="mutant"),
            "values.tp53_status: code 'mut' maps to 'mutant', which is not one of 'altered'",
        ),
        (lambda m: m["units"].update(tmtv_ml="cc"), "units.tmtv_ml: unknown unit 'cc' (known: mL"),
        (
            lambda m: (
                m["columns"].update(cart_cmax_per_ul="CAR-T"),
                m["units"].update(cart_cmax_per_ul="copies/ug DNA"),
            ),
            "units.cart_cmax_per_ul: 'copies/ug DNA' cannot be converted to cells/uL",
        ),
        (lambda m: m["units"].update(ecog="points"), "units.ecog: the field has no unit"),
        (lambda m: m["dates"].pop("format"), "dates.format: required"),
        (lambda m: m["dates"].pop("last_follow_up"), "dates.last_follow_up: required"),
        (
            lambda m: m["columns"].update(pfs_months="PFS"),
            "columns.pfs_months: derived from the dates",
        ),
        (lambda m: m.update(colums={}), "unknown section 'colums'"),
    ],
)
def test_a_bad_mapping_is_refused_with_every_problem_named(edit, message):
    mapping = _example()
    edit(mapping)
    with pytest.raises(MappingError, match=None) as caught:
        parse_mapping(mapping, source="m.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("m.yaml: ")


def test_a_mapped_column_absent_from_the_export_is_named(tmp_path):
    export = pd.read_csv(EXAMPLES / "registry_export.csv", dtype=str, keep_default_na=False).drop(
        columns=["TMTV (cm3)"]
    )
    with pytest.raises(MappingError, match=r"columns.tmtv_ml: 'TMTV \(cm3\)' is not a column"):
        apply_mapping(export, load_mapping(MAPPING))


def _messy(n: int, seed: int):
    frame = validate_frame(
        canonical(simulate(n, seed)), require_outcomes=True, nan_is_missing=True
    ).frame.reset_index(drop=True)
    return frame, registry_export(frame, seed)


def test_a_cohort_survives_the_round_trip_through_a_messy_export(tmp_path):
    """Every accepted row equals the original (dates: to within half a day); every planted row
    is reported with its row and the export's column; no other row is rejected."""
    original, export = _messy(3000, 5)
    infusion = pd.to_datetime(export["Infusion date"], format=DATE_FORMAT)
    progressed = np.flatnonzero(export["Progression date"] != "")
    alive = np.flatnonzero(export["Last contact"] != "")
    day = lambda i, d: (infusion[i] + pd.Timedelta(days=d)).strftime(DATE_FORMAT)  # noqa
    planted = {  # 0-based row -> (export column, value)
        10: ("TP53", "pending"),
        20: ("LDH (ukat/L)", "high"),
        30: ("Ann Arbor stage", "V"),
        40: ("ECOG PS", "7"),
        50: ("Infusion date", "31/02/2021"),
        int(progressed[0]): ("Date of death", day(progressed[0], -400)),
        int(progressed[1]): ("Progression date", day(progressed[1], -3)),
        int(alive[5]): ("Last contact", day(alive[5], -5)),
        70: ("Date of birth", day(70, 10)),
    }
    for row, (column, value) in planted.items():
        export.loc[row, column] = value
    source, out = tmp_path / "export.csv", tmp_path / "canonical.csv"
    export.to_csv(source, index=False)
    summary = import_csv(source, out, load_mapping(MAPPING), chunk_rows=700)
    errors = pd.read_csv(tmp_path / "canonical.errors.csv", dtype=str, keep_default_na=False)
    reported = {(int(r), f) for r, f in zip(errors["row"], errors["field"])}
    expected = {
        (row + 1, column if column != "ECOG PS" else "ECOG PS (ecog)")
        for row, (column, _) in planted.items()
    }
    assert expected <= reported
    assert {r for r, _ in reported} == {r for r, _ in expected}  # no other row rejected
    assert summary.rows_read == 3000 and summary.rejected == len(planted)
    assert summary.scored + summary.rejected == summary.rows_read

    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    result = validate_frame(back, require_outcomes=True)
    assert len(result.errors) == 0 and len(result.frame) == 3000 - len(planted)
    kept = np.setdiff1d(np.arange(3000), list(planted))
    truth = canonical_outcome_days(original).iloc[kept].reset_index(drop=True)
    got = result.frame.reset_index(drop=True)
    assert (got["patient_id"] == truth["patient_id"]).all()
    # A date rounds an age to the nearest day; the canonical file writes 6 decimals.
    half_day_years = 0.5 / 365.25 + 5e-7
    assert np.allclose(got["age_years"], truth["age_years"], atol=half_day_years, rtol=0)
    for name in ("pfs_months", "os_months"):
        assert np.allclose(got[name], truth[name], atol=5e-7, rtol=0), name
    for name in ("ldh_u_l", "ldh_uln_u_l", "tmtv_ml", "cart_cmax_per_ul"):
        assert np.allclose(got[name], truth[name], atol=5e-7, rtol=0, equal_nan=True), name
    for name in (
        "ecog",
        "stage",
        "extranodal_sites",
        "ipi",
        "aaipi",
        "prior_lines",
        "pfs_event",
        "os_event",
    ):
        assert np.array_equal(got[name], truth[name], equal_nan=True), name
    for name in ("tp53_status", "bridging_therapy", "ctdna_d28", "best_response"):
        assert (got[name].fillna("?") == truth[name].fillna("?")).all(), name
    assert (got["pfs_event_type"].fillna("") == truth["pfs_event_type"].fillna("")).all()
    assert set(got["pfs_event_type"].dropna()) == {"progression", "death"}


def test_ldh_as_a_multiple_of_the_upper_limit_of_normal_keeps_the_ratio():
    mapping = parse_mapping(
        {"columns": {"ldh_u_l": "LDH xULN", "age_years": "Age"}, "units": {"ldh_u_l": "xULN"}}
    )
    raw = pd.DataFrame({"LDH xULN": ["1.5", "0.8", ""], "Age": ["60", "70", "50"]})
    mapped = apply_mapping(raw, mapping)
    assert list(mapped.frame["ldh_uln_u_l"].iloc[:2]) == [NOMINAL_ULN_U_L] * 2
    encoded = encode(mapped.frame, "infusion")
    assert np.allclose(encoded["log2_ldh_ratio"].iloc[:2], np.log2([1.5, 0.8]))
    assert list(encoded["ldh_missing"]) == [0, 0, 1]


def test_ukat_per_litre_is_sixty_units_per_litre():
    mapping = parse_mapping(
        {
            "columns": {"ldh_u_l": "LDH", "ldh_uln_u_l": "ULN"},
            "units": {"ldh_u_l": "ukat/L", "ldh_uln_u_l": "µkat/L"},
        }
    )
    mapped = apply_mapping(pd.DataFrame({"LDH": ["5"], "ULN": ["4.1"]}), mapping)
    assert mapped.frame["ldh_u_l"].iloc[0] == 300.0
    assert mapped.frame["ldh_uln_u_l"].iloc[0] == pytest.approx(246.0)


def test_bridged_with_type_unknown_sets_any_bridging_and_no_type():
    mapping = parse_mapping(
        {
            "columns": {"bridging_therapy": "Bridging"},
            "values": {"bridging_therapy": {"yes": "bridged_type_unknown", "no": "none"}},
        }
    )
    mapped = apply_mapping(pd.DataFrame({"Bridging": ["yes", "no", "maybe"]}), mapping)
    encoded = encode(mapped.frame, "infusion")
    types = [
        c
        for c in encoded.columns
        if c.startswith("bridging_") and c not in ("bridging_any", "bridging_therapy_missing")
    ]
    assert list(encoded["bridging_any"]) == [1, 0]
    assert encoded[types].to_numpy().sum() == 0
    assert list(mapped.errors["row"]) == [3] and "'maybe'" not in mapped.errors["error"][0]


def test_dates_in_another_order_than_declared_are_rejected_not_guessed():
    mapping = parse_mapping(
        {"dates": {"format": "%d/%m/%Y", "birth": "DOB", "infusion": "Infusion"}}
    )
    raw = pd.DataFrame({"DOB": ["01/02/1960", "1960-02-01"], "Infusion": ["01/02/2020"] * 2})
    mapped = apply_mapping(raw, mapping)
    assert mapped.frame["age_years"].iloc[0] == pytest.approx(
        (pd.Timestamp("2020-02-01") - pd.Timestamp("1960-02-01")).days / 365.25
    )
    assert list(mapped.errors["row"]) == [2] and list(mapped.errors["field"]) == ["DOB"]


def test_import_and_score_commands_take_the_example_export(tmp_path, trained):
    registry, _, _ = trained
    runner = CliRunner()
    out = tmp_path / "canonical.csv"
    imported = runner.invoke(
        app,
        [
            "import",
            str(EXAMPLES / "registry_export.csv"),
            "--mapping",
            str(MAPPING),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert imported.exit_code == 1, imported.output  # three planted rows
    assert "rows read 300, accepted 297, rejected 3" in imported.output
    assert "not imported): Centre" in imported.output
    scored = tmp_path / "scored.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(EXAMPLES / "registry_export.csv"),
            "--mapping",
            str(MAPPING),
            "--out",
            str(scored),
            "--quiet",
            "--registry",
            str(registry.root),
        ],
    )
    assert result.exit_code == 1, result.output
    frame = pd.read_csv(scored)
    errors = pd.read_csv(tmp_path / "scored.errors.csv")
    assert len(frame) + errors["row"].nunique() == 300
    assert {"Patient ID", "Centre", "risk_12m"} <= set(frame.columns)
    bad = runner.invoke(
        app,
        [
            "score",
            str(EXAMPLES / "registry_export.csv"),
            "--mapping",
            str(tmp_path / "none.yaml"),
            "--out",
            str(scored),
        ],
    )
    assert bad.exit_code == 2 and "none.yaml: file not found" in bad.output
