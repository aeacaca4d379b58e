"""The model commands end to end: train, registry list/show/promote/rollback, evaluate."""

import json

from typer.testing import CliRunner

from relapse_risk.cli import app


def test_train_registry_and_evaluate_commands(tmp_path):
    runner = CliRunner()
    reg = str(tmp_path / "reg")
    first = runner.invoke(app, ["train", "--n", "2000", "--registry", reg, "--strategy", "holdout"])
    assert first.exit_code == 0, first.output
    assert "registered and promoted v0001" in first.output
    second = runner.invoke(
        app, ["train", "--n", "2000", "--seed", "9", "--registry", reg, "--strategy", "holdout"]
    )
    assert "registered v0002 as a candidate" in second.output
    listing = runner.invoke(app, ["registry", "list", "--registry", reg])
    assert "v0001  production" in listing.output and "v0002  candidate" in listing.output
    assert runner.invoke(app, ["registry", "promote", "v0002", "--registry", reg]).exit_code == 0
    shown = runner.invoke(app, ["registry", "show", "--registry", reg])
    assert "version v0002 (integrity verified)" in shown.output and "Model card" in shown.output
    back = runner.invoke(app, ["registry", "rollback", "--registry", reg])
    assert "v0001 is production" in back.output
    missing = runner.invoke(app, ["registry", "promote", "v0099", "--registry", reg])
    assert missing.exit_code == 2 and "no version 'v0099'" in missing.output
    out = tmp_path / "eval"
    ev = runner.invoke(
        app,
        [
            "evaluate",
            "--registry",
            reg,
            "--n",
            "2000",
            "--repeats",
            "0",
            "--attainable-n",
            "2000",
            "--out",
            str(out),
        ],
    )
    assert ev.exit_code == 0, ev.output
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["held-out"]) == {"infusion", "day28"}
    assert "shifted case-mix" in report and report["missing_predictor"]


def test_train_rejects_a_cohort_without_outcomes(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("age_years,prior_lines\n60,2\n")
    result = CliRunner().invoke(
        app, ["train", "--cohort", str(path), "--registry", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "pfs_months: required outcome column is missing" in result.output
