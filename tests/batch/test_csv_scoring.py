"""Batch scoring of messy registry exports: every row accounted for, or a clear error."""

import gzip
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from batch.csv_scoring import (
    InputFileError,
    errors_path_for,
    format_decimals,
    score_csv,
    write_rows,
)
from features.errors import SchemaError
from model_registry.scoring import ScoringModel
from relapse_risk.cli import app

HEADER = "patient_id,age_years,stage,ecog,prior_lines,tp53_status,bridging_therapy"
ROWS = [
    "P1,61,4,1,2,altered,none",
    "P2,45,2,0,3,wild_type,chemotherapy",
    "P3,old,3,1,2,,none",
    'P4,70,4,2,0,"mutant",radiotherapy',
    "P5,55,1,0,1,,",
]


@pytest.fixture(scope="module")
def model(trained):
    registry, _, _ = trained
    return ScoringModel(registry.load(), bulk=True)


def _write(path, text: str, *, gz: bool = False, bom: bool = False):
    data = (("\ufeff" if bom else "") + text).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _run(tmp_path, model, text, name="in.csv", **kw):
    src = _write(tmp_path / name, text, gz=name.endswith(".gz"), bom=kw.pop("bom", False))
    out = tmp_path / "out.csv"
    summary = score_csv(src, out, model, **kw)
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    errors = pd.read_csv(errors_path_for(out), dtype=str, keep_default_na=False)
    return summary, scored, errors


def test_every_row_is_accounted_for(tmp_path, model):
    summary, scored, errors = _run(tmp_path, model, "\n".join([HEADER, *ROWS]) + "\n")
    assert (summary.rows_read, summary.scored, summary.rejected) == (5, 3, 2)
    assert list(scored.row) == ["1", "2", "5"]
    assert list(scored.columns) == [
        "row",
        *HEADER.split(","),
        "risk_6m",
        "risk_12m",
        "risk_24m",
        "relapse_6m",
        "relapse_12m",
        "relapse_24m",
        "nrm_6m",
        "nrm_12m",
        "nrm_24m",
        "cure_probability",
        "risk_group",
        "landmark",
        "missing_predictors",
        "model_version",
    ]
    for h in (6, 12, 24):  # the two causes add up to the risk (six decimals each)
        total = scored[f"relapse_{h}m"].astype(float) + scored[f"nrm_{h}m"].astype(float)
        assert (abs(total - scored[f"risk_{h}m"].astype(float)) <= 1.5e-6).all()
    assert list(scored.patient_id) == ["P1", "P2", "P5"]
    assert sorted(errors.values.tolist()) == [
        ["3", "age_years", "old", "must be a number from 0 to 120 years"],
        ["4", "prior_lines", "0", "must be an integer from 1 to 15"],
        ["4", "tp53_status", "mutant", "must be one of 'altered', 'wild_type'"],
    ]
    assert set(scored.row) | set(errors.row) == {"1", "2", "3", "4", "5"}
    assert "tp53_status" in scored.missing_predictors.iloc[2].split(";")


@pytest.mark.parametrize("variant", ["bom_crlf", "gzip", "quoted", "blank_lines", "spaces"])
def test_messy_exports_score_like_the_clean_one(tmp_path, model, variant):
    (tmp_path / "clean").mkdir()
    clean = _run(tmp_path / "clean", model, "\n".join([HEADER, *ROWS]) + "\n")
    text = "\n".join([HEADER, *ROWS]) + "\n"
    kw, name = {}, "in.csv"
    if variant == "bom_crlf":
        text, kw = text.replace("\n", "\r\n"), {"bom": True}
    elif variant == "gzip":
        name = "in.csv.gz"
    elif variant == "quoted":
        text = (
            "\n".join(
                [",".join(f'"{c}"' for c in line.split(",")) for line in [HEADER, *ROWS]]
            ).replace('""mutant""', '"mutant"')
            + "\n"
        )
    elif variant == "blank_lines":
        text = "\n".join([HEADER, "", ROWS[0], "", "", *ROWS[1:], "", ""]) + "\n"
    elif variant == "spaces":
        text = "\n".join([HEADER] + [",".join(f" {c} " for c in r.split(",")) for r in ROWS])
    summary, scored, errors = _run(tmp_path, model, text, name=name, **kw)
    assert (summary.scored, summary.rejected) == (clean[0].scored, clean[0].rejected)
    assert list(scored.risk_12m) == list(clean[1].risk_12m)
    assert sorted(errors.field) == sorted(clean[2].field)


def test_header_only_and_chunking(tmp_path, model):
    summary, scored, errors = _run(tmp_path, model, HEADER + "\n")
    assert summary.rows_read == 0 and scored.empty and errors.empty
    text = "\n".join([HEADER, *(ROWS * 40)]) + "\n"
    one = _run(tmp_path, model, text, chunk_rows=7)
    big = _run(tmp_path, model, text, chunk_rows=10_000)
    pd.testing.assert_frame_equal(one[1], big[1])
    pd.testing.assert_frame_equal(one[2], big[2])
    assert one[0].rows_read == 200 and set(one[2].row.astype(int)) == {
        i for i in range(1, 201) if i % 5 in (3, 4)
    }


@pytest.mark.parametrize(
    "text,error,match",
    [
        ("", InputFileError, "is empty"),
        ("\n\n", InputFileError, "is empty"),
        ("age_years,age_years\n60,61\n", InputFileError, "duplicate columns: age_years"),
        ("age_years,,stage\n60,1,2\n", InputFileError, "column 2 has no name"),
        ("LDH,age_years\n300,60\n", SchemaError, "LDH: not a canonical column"),
        ("row,age_years\n1,60\n", InputFileError, "column named 'row'"),
        ("age_years,stage\n60,1,5,6\n", InputFileError, "not a well-formed CSV"),
    ],
)
def test_unreadable_files_get_a_clear_error(tmp_path, model, text, error, match):
    with pytest.raises(error, match=match):
        _run(tmp_path, model, text)


def test_not_utf8(tmp_path, model):
    (tmp_path / "in.csv").write_bytes("age_years,stage\n60,1\n".encode("utf-16"))
    with pytest.raises(InputFileError, match="UTF-8"):
        score_csv(tmp_path / "in.csv", tmp_path / "o.csv", model)


@pytest.mark.parametrize(
    "content,match",
    [
        (None, "cannot read the upload"),
        (b"", "the upload is empty"),
        ("age_years,stage\n60,1\n".encode("utf-16"), "the upload is not UTF-8"),
        (b"age_years,stage\n60,1,5,6\n", "the upload is not a well-formed CSV"),
    ],
)
def test_messages_call_the_file_by_the_name_given(tmp_path, model, content, match):
    # The service scores a file spooled to a temporary path it must not reveal.
    source = tmp_path / "spooled-9f2c.csv"
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(InputFileError, match=match) as info:
        score_csv(source, tmp_path / "o.csv", model, name="the upload")
    assert "spooled-9f2c" not in str(info.value) and str(tmp_path) not in str(info.value)


def test_pass_through_keeps_unknown_columns(tmp_path, model):
    summary, scored, _ = _run(
        tmp_path, model, "hospital,age_years\nH1,60\n", pass_through_unknown=True
    )
    assert summary.passed_through == ["hospital"] and list(scored.hospital) == ["H1"]


def test_cli_exit_status(tmp_path, trained):
    registry, _, _ = trained
    runner = CliRunner()
    good = _write(tmp_path / "good.csv", "\n".join([HEADER, ROWS[0], ROWS[1]]) + "\n")
    mixed = _write(tmp_path / "mixed.csv", "\n".join([HEADER, *ROWS]) + "\n")
    empty = _write(tmp_path / "empty.csv", "")
    args = ["--registry", str(registry.root), "--quiet"]
    ok = runner.invoke(app, ["score", str(good), "--out", str(tmp_path / "g.csv"), *args])
    assert ok.exit_code == 0, ok.output
    assert "rows read 2, scored 2, rejected 0" in ok.output
    some = runner.invoke(app, ["score", str(mixed), "--out", str(tmp_path / "m.csv"), *args])
    assert some.exit_code == 1 and "rejected 2" in some.output
    none = runner.invoke(app, ["score", str(empty), "--out", str(tmp_path / "e.csv"), *args])
    assert none.exit_code == 2 and "is empty" in none.output


def test_dask_engine_writes_the_same_files_on_a_local_cluster(tmp_path, trained):
    """Partitions scored on a two-process local Dask cluster: the same files, numbers to
    float32's rounding. ONNX Runtime's float32 kernels may round a row's last bit
    differently with the batch's size (a 50,000-row chunk here, 8 KB partitions there), which
    moves a six-decimal figure by one unit now and then; every other cell is identical."""
    from batch.dask_engine import score_csv_dask

    registry, version, _ = trained
    model = ScoringModel(registry.load(), bulk=True)
    text = "\n".join([HEADER, *(ROWS * 300)]) + "\n"
    src = _write(tmp_path / "in.csv", text)
    local = score_csv(src, tmp_path / "local.csv", model)
    distributed = score_csv_dask(
        src, tmp_path / "dask.csv", registry.root, version, blocksize="8KB"
    )
    assert (
        (distributed.rows_read, distributed.scored, distributed.rejected)
        == (local.rows_read, local.scored, local.rejected)
        == (1500, 900, 600)
    )
    ours, theirs = (
        pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
        for name in ("local.csv", "dask.csv")
    )
    assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs)
    numeric = [
        c
        for c in ours.columns
        if c.startswith(("risk_", "relapse_", "nrm_", "cure_")) and c != "risk_group"
    ]
    assert ours.drop(columns=numeric).equals(theirs.drop(columns=numeric))
    for column in numeric:
        a, b = (pd.to_numeric(f[column], errors="coerce") for f in (ours, theirs))
        assert (a.isna() == b.isna()).all()
        assert (a - b).abs().fillna(0.0).max() <= 1.5e-6, column
    assert (tmp_path / "dask.errors.csv").read_bytes() == (
        tmp_path / "local.errors.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    "cells",
    [
        ["a,b", 'say "hi"', "two\nlines", "cr\rhere"],  # every cell needs quotes
        ["plain", "", " spaced ", "semi;colon"],  # none needing quotes: the joined fast path
        ["mixed", "x,y", "", '"'],
    ],
)
def test_write_rows_writes_what_to_csv_would(cells):
    import io

    frame = pd.DataFrame(
        {
            "row": list(range(1, len(cells) + 1)),
            "patient_id": cells,
            "other": cells[::-1],
            "risk_12m": ["0.100000", "", "1.000000", ""],
        }
    )
    ours = io.StringIO()
    write_rows(ours, frame)
    expected = frame.to_csv(header=False, index=False, lineterminator="\n")
    # A lone carriage return is quoted too (csv before Python 3.12 left it bare, which
    # other readers take for a line end).
    quoted = '"cr\rhere"'
    assert ours.getvalue() == expected.replace(quoted, "cr\rhere").replace("cr\rhere", quoted)
    assert (
        pd.read_csv(io.StringIO(ours.getvalue()), header=None, dtype=str, keep_default_na=False)[
            1
        ].tolist()
        == cells
    )


def test_format_decimals_writes_what_str_format_would():
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.random(20_000),
            rng.random(2_000).astype(np.float32).astype(float),
            np.round(rng.random(2_000), 6),
            (np.arange(2_000) + 0.5) / 1e6,  # exact ties
            [
                0.0,
                -0.0,
                1.0,
                9.9999994,
                9.9999995,
                9.99999951,
                10.0,
                123.4567891,
                -0.25,
                -1e-9,
                1e-7,
                5e-7,
                1.5e-6,
                np.nan,
                np.inf,
                -np.inf,
                1e300,
            ],
        ]
    )
    expected = ["" if v != v else f"{v:.6f}" for v in values.tolist()]
    assert format_decimals(values).tolist() == expected
    assert format_decimals(np.array([])).tolist() == []


def test_a_file_without_a_canonical_predictor_is_refused_not_scored_as_unknown(tmp_path, model):
    """The example export (its own column names) with --pass-through would score every row
    as a patient of whom nothing is known; it is refused with the advice to write a mapping."""
    from pathlib import Path

    export = Path(__file__).resolve().parents[2] / "examples" / "registry_export.csv"
    with pytest.raises(
        InputFileError,
        match=r"none of its columns is a canonical predictor"
        r".*relapse-risk mapping draft .*registry_export",
    ):
        score_csv(export, tmp_path / "o.csv", model, pass_through_unknown=True)
    assert not (tmp_path / "o.csv").exists()
    with pytest.raises(SchemaError) as caught:
        score_csv(export, tmp_path / "o.csv", model)
    first = caught.value.errors[0]
    assert first.field == "Patient ID" and "mapping draft" in first.error
    # Only outcomes and an id: refused too; the upload's name, never its path, in the advice.
    _write(tmp_path / "spooled.csv", "patient_id,pfs_months,pfs_event\nP1,3,1\n")
    with pytest.raises(InputFileError, match=r"the upload: none .*mapping draft FILE"):
        score_csv(tmp_path / "spooled.csv", tmp_path / "o.csv", model, name="the upload")


def test_score_ends_with_a_summary_of_what_was_scored(tmp_path, trained):
    registry, _, _ = trained
    rows = [f"P{i},{40 + i % 40},{1 + i % 4},{i % 3},{1 + i % 3},,none" for i in range(60)]
    src = _write(tmp_path / "in.csv", "\n".join([HEADER, *rows, "P99,old,1,0,1,,none"]) + "\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app, ["score", str(src), "--out", str(out), "--registry", str(registry.root), "--quiet"]
    )
    assert result.exit_code == 1, result.output
    scored = pd.read_csv(out)
    counts = scored["risk_group"].value_counts()
    line = next(x for x in result.output.splitlines() if x.startswith("risk groups: "))
    for group, count in counts.items():
        assert f"{group} {count} (" in line
    median = scored["risk_12m"].median()
    quantiles = next(x for x in result.output.splitlines() if x.startswith("12-month risk: "))
    shown = float(re.search(r"50th percentile (\d+)%", quantiles).group(1)) / 100
    assert abs(shown - median) <= 0.011  # bins of one percentage point
    missing = next(x for x in result.output.splitlines() if x.startswith("predictors missing"))
    # Every scored row lacks TP53 (blank) and the columns the file does not have.
    assert "tp53_status 60 (100%)" in missing and "tmtv_ml 60 (100%)" in missing
    plot = tmp_path / "out.csv.risk_12m.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"12-month risk plot: {plot}" in result.output


def test_worker_processes_write_the_same_files_as_the_thread(tmp_path, model):
    """Chunks scored in two forked workers come back in order: byte-identical outputs and
    the same summary as one worker (a thread), over many chunks and their bad rows."""
    rows = [f"Q{i}," + ROWS[i % len(ROWS)].split(",", 1)[1] for i in range(1_000)]
    src = _write(tmp_path / "many.csv", "\n".join([HEADER, *rows]) + "\n")
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.csv"
        summary = score_csv(src, out, model, chunk_rows=70, workers=workers)
        outputs[workers] = (
            out.read_bytes(),
            errors_path_for(out).read_bytes(),
            summary.rows_read,
            summary.scored,
            summary.rejected,
            summary.risk_groups,
            summary.missing,
            summary.risk_12m_counts.tolist(),
        )
    assert outputs[1][2:5] == (1_000, 600, 400)
    assert outputs[2] == outputs[1]


def test_a_csv_with_fields_at_progression_gets_the_progression_columns(tmp_path, model):
    header = (
        "patient_id,age_years,progression_months,ecog_at_progression,"
        "ldh_at_progression_u_l,ldh_uln_at_progression_u_l,"
        "haemoglobin_at_progression_g_dl,extranodal_sites_at_progression"
    )
    rows = [
        "Q1,66,2.5,2,700,250,9.1,3",  # at progression: PC-PI 5 of 5
        "Q2,58,,,,,,",  # nothing at progression: its PFS landmark
        "Q3,60,3,1,400,,10,1",
    ]  # LDH without its ULN: an error naming the ULN
    summary, scored, errors = _run(tmp_path, model, "\n".join([header, *rows]) + "\n")
    assert (summary.scored, summary.rejected) == (2, 1)
    assert list(scored.landmark) == ["progression", "infusion"]
    at_progression, at_infusion = scored.iloc[0], scored.iloc[1]
    assert 0 < float(at_progression.death_3m) < float(at_progression.death_12m) < 1
    assert at_progression.pcpi_group == "high" and float(at_progression.pcpi_points) == 5
    assert at_progression.risk_12m == "" and at_infusion.death_6m == ""
    assert float(at_infusion.risk_12m) > 0
    assert errors.field.tolist() == ["ldh_uln_at_progression_u_l"]
