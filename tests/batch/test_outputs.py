"""Nothing lost on disk: an output never overwrites an input, appears whole or not at all,
and a failed or killed run leaves the previous files as they were."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from batch.csv_import import import_csv
from batch.csv_scoring import InputFileError, errors_path_for
from features.mapping import load_mapping
from model_registry.atomic import PARTIAL_PREFIX, OutputPathError, atomic_paths
from relapse_risk.cli import EXIT_OUTPUT, app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPORT, MAPPING = EXAMPLES / "registry_export.csv", EXAMPLES / "registry_mapping.yaml"
CANONICAL = "patient_id,age_years,ecog\nP1,61,1\nP2,45,0\n"
IDENTITY = "columns: {patient_id: patient_id, age_years: age_years, ecog: ecog}\n"


def _files(tmp_path):
    src = tmp_path / "same.csv"
    src.write_text(CANONICAL)
    ident = tmp_path / "ident.yaml"
    ident.write_text(IDENTITY)
    return src, ident


@pytest.mark.parametrize(
    "args",
    [
        ["import", "{src}", "--mapping", "{map}", "--out", "{src}"],
        ["import", "{src}", "--mapping", "{map}", "--out", "{dir}/./same.csv"],
        ["import", "{src}", "--mapping", "{map}", "--out", "{dir}/link.csv"],
        ["import", "{errsrc}", "--mapping", "{map}", "--out", "{dir}/f.csv"],
        ["import", "{src}", "--mapping", "{map}", "--out", "{map}"],
        ["score", "{src}", "--out", "{src}"],
        ["score", "{errsrc}", "--out", "{dir}/f.csv"],
        ["score", "{src}", "--mapping", "{map}", "--out", "{map}"],
    ],
    ids=[
        "import-same",
        "import-dot",
        "import-symlink",
        "import-via-error-file",
        "import-over-mapping",
        "score-same",
        "score-via-error-file",
        "score-over-mapping",
    ],
)
def test_an_output_that_is_an_input_is_refused_before_reading(tmp_path, args):
    src, ident = _files(tmp_path)
    errsrc = tmp_path / "f.errors.csv"
    errsrc.write_text(CANONICAL)
    (tmp_path / "link.csv").symlink_to(src)
    before = {p: p.read_bytes() for p in (src, ident, errsrc)}
    argv = [a.format(src=src, map=ident, dir=tmp_path, errsrc=errsrc) for a in args]
    extra = ["--registry", str(tmp_path / "reg")] if argv[0] == "score" else []
    result = CliRunner().invoke(app, argv + ["--quiet", *extra])
    assert result.exit_code == 2, result.output
    assert "is the same file as" in result.output and "nothing was read or written" in result.output
    assert {p: p.read_bytes() for p in before} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(PARTIAL_PREFIX)]


def test_the_library_refuses_too(tmp_path):
    src, ident = _files(tmp_path)
    with pytest.raises(OutputPathError, match="--out"):
        import_csv(src, src, load_mapping(ident), mapping_path=ident)
    assert src.read_text() == CANONICAL


def _bad_late_row(tmp_path, n_good: int) -> Path:
    """An export whose row n_good + 1 has one field too many (read after the first chunks)."""
    lines = EXPORT.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    body = [rows[i % len(rows)] for i in range(n_good)]
    bad = tmp_path / "late.csv"
    bad.write_text("\n".join([header, *body, rows[0] + ",extra", *body[:50]]) + "\n")
    return bad


def test_a_failed_run_leaves_the_previous_files_untouched(tmp_path, trained):
    registry, _, _ = trained
    mapping = load_mapping(MAPPING)
    out = tmp_path / "canonical.csv"
    import_csv(EXPORT, out, mapping)
    before = out.read_bytes(), errors_path_for(out).read_bytes()
    with pytest.raises(InputFileError, match="not a well-formed CSV"):
        import_csv(_bad_late_row(tmp_path, 450), out, mapping, chunk_rows=100)
    assert (out.read_bytes(), errors_path_for(out).read_bytes()) == before
    # the same for scoring, through the command line (exit 2, nothing replaced)
    scored = tmp_path / "scored.csv"
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "score",
            str(EXPORT),
            "--mapping",
            str(MAPPING),
            "--out",
            str(scored),
            "--quiet",
            "--registry",
            str(registry.root),
        ],
    )
    assert ok.exit_code == 1, ok.output
    before = scored.read_bytes()
    failed = runner.invoke(
        app,
        [
            "score",
            str(_bad_late_row(tmp_path, 450)),
            "--mapping",
            str(MAPPING),
            "--out",
            str(scored),
            "--quiet",
            "--chunk-size",
            "100",
            "--registry",
            str(registry.root),
        ],
    )
    assert failed.exit_code == 2, failed.output
    assert scored.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(PARTIAL_PREFIX)]


KILLED_IMPORT = """
import os, signal, sys
from batch.csv_import import import_csv
from features.mapping import load_mapping
calls = []
def progress(n):
    calls.append(n)
    if len(calls) == 2:  # two chunks written: die in the middle of the run
        os.kill(os.getpid(), signal.SIGKILL)
import_csv(sys.argv[1], sys.argv[2], load_mapping(sys.argv[3]), chunk_rows=100,
           progress=progress)
"""


def test_a_killed_import_leaves_no_partial_output_under_the_final_name(tmp_path):
    out = tmp_path / "canonical.csv"
    out.write_text("an earlier complete file\n")
    big = _bad_late_row(tmp_path, 600)  # never reached: the process dies after 200 rows
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, str(big), str(out), str(MAPPING)],
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == -signal.SIGKILL
    assert out.read_text() == "an earlier complete file\n"
    assert not errors_path_for(out).exists()
    # What the killed run wrote is under a temporary name only, never taken for the output.
    assert all(p.name.startswith(PARTIAL_PREFIX) for p in tmp_path.iterdir() if p not in (out, big))


def test_an_unwritable_out_is_a_one_line_error(tmp_path):
    src, ident = _files(tmp_path)
    for out in (tmp_path / "missing" / "c.csv", src / "c.csv"):  # no such folder; a file
        result = CliRunner().invoke(
            app, ["import", str(src), "--mapping", str(ident), "--out", str(out), "--quiet"]
        )
        assert result.exit_code == EXIT_OUTPUT, result.output
        assert result.output.startswith("error: cannot write") and result.output.count("\n") == 1, (
            result.output
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert src.read_text() == CANONICAL


def test_outputs_are_renamed_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("old a")
    with pytest.raises(RuntimeError):
        with atomic_paths(a, b) as (ta, tb):
            ta.write_text("new a")
            tb.write_text("new b")
            raise RuntimeError("the input ended early")
    assert a.read_text() == "old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    with atomic_paths(a, b) as (ta, tb):
        ta.write_text("new a")
        tb.write_text("new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert os.stat(a).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_synth_writes_its_cohort_atomically(tmp_path, monkeypatch):
    import synthetic.generator as generator

    out = tmp_path / "cohort.csv"
    out.write_text("earlier cohort\n")

    def dies(frame, path, **kw):
        Path(path).write_text("patient_id\nhalf")
        raise KeyboardInterrupt

    monkeypatch.setattr(generator, "write_csv", dies)
    result = CliRunner().invoke(app, ["synth", "--n", "50", "--out", str(out)])
    assert result.exit_code != 0
    assert out.read_text() == "earlier cohort\n"
    assert pd.read_csv(out).columns.tolist() == ["earlier cohort"]
