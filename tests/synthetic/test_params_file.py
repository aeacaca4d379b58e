"""Generator parameter files: one from an older generator loads (the parameters it lacks are
the shipped ones, and the CLI says which), an unknown or malformed one is refused in one line."""

import json

from typer.testing import CliRunner

from relapse_risk.cli import app
from synthetic.generator import load_params


def _write(path, params):
    path.write_text(
        json.dumps({"version": params.version, "fixed": params.fixed, "fitted": params.fitted})
    )
    return path


def test_an_older_file_takes_the_shipped_values_for_what_it_lacks(tmp_path):
    shipped = load_params()
    older = shipped.with_overrides(cure_logit=shipped.value("cure_logit") - 1.0)
    fixed = dict(older.fixed)
    dropped = sorted(fixed)[0]
    del fixed[dropped]
    path = tmp_path / "older.json"
    path.write_text(json.dumps({"version": "0.9.0", "fixed": fixed, "fitted": older.fitted}))
    loaded = load_params(path)
    assert loaded.filled_from_defaults == (dropped,)
    assert loaded.value(dropped) == shipped.value(dropped)
    assert loaded.value("cure_logit") == shipped.value("cure_logit") - 1.0  # its own kept
    result = CliRunner().invoke(
        app, ["synth", "--n", "20", "--params", str(path), "--out", str(tmp_path / "out.csv")]
    )
    assert result.exit_code == 0, result.output
    assert f"1 parameters it lacks are the shipped ones: {dropped}" in result.output


def test_unknown_or_malformed_files_are_refused_in_one_line(tmp_path):
    shipped = load_params()
    unknown = _write(tmp_path / "unknown.json", shipped.with_fitted({"nrm_rate_per_month": 0.1}))
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"version": "1"}')
    for path, message in (
        (unknown, "unknown parameters ['nrm_rate_per_month']"),
        (malformed, "is malformed (KeyError: 'fixed')"),
        (tmp_path / "absent.json", "No such file"),
    ):
        result = CliRunner().invoke(app, ["calibrate", "--n", "200", "--params", str(path)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
