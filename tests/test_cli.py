import pandas as pd
from typer.testing import CliRunner

from features.schema import COLUMNS, CONDITIONS
from relapse_risk.cli import app


def test_synth_writes_canonical_columns(tmp_path):
    out = tmp_path / "c.csv"
    result = CliRunner().invoke(app, ["synth", "--n", "300", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    # Every canonical column but the conditions of a score (event_free_months).
    assert list(frame.columns) == [c for c in COLUMNS if c not in CONDITIONS]
    assert len(frame) == 300 and frame.patient_id.is_unique


def test_synth_rejects_bad_options(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--n", "0", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "--n" in result.output
