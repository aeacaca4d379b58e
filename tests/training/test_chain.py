"""The whole chain on a cohort of real size: train (resampling), validate, recalibrate,
retrain and score on 500 patients, through the command line."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from model_registry.registry import Registry
from relapse_risk.cli import app
from synthetic.generator import canonical, load_params, simulate


def test_the_whole_chain_on_500_patients(tmp_path):
    """train (resampling), validate, recalibrate and score on cohorts of real size."""
    runner = CliRunner()
    reg = str(tmp_path / "reg")
    p = load_params()
    paths = {}
    for name, n, seed, params in (
        ("develop", 500, 11, p),
        ("shifted", 1000, 12, p.with_overrides(cure_logit=p.value("cure_logit") - 1.0)),
    ):
        paths[name] = tmp_path / f"{name}.csv"
        canonical(simulate(n, seed, params)).to_csv(paths[name], index=False)

    trained = runner.invoke(
        app, ["train", "--cohort", str(paths["develop"]), "--registry", reg, "--bootstrap", "10"]
    )
    assert trained.exit_code == 0, trained.output
    assert (
        "optimism-corrected" in trained.output and "registered and promoted v0001" in trained.output
    )
    assert "Riley et al.'s minimum for" in trained.output and "too small" in trained.output
    meta = Registry(reg).load("v0001").metadata
    assert meta["sample_size"]["infusion"]["n_required"] > 500
    for lm in ("infusion", "day28"):
        dev = meta["landmarks"][lm]["development"]
        assert dev["strategy"] == "resampling" and dev["family"] == meta["champions"][lm]
        assert dev["optimism"]["harrell_c"]["corrected"] < dev["optimism"]["harrell_c"]["apparent"]
    assert "optimism-corrected" in Registry(reg).file("v0001", "model_card.md").decode()

    out = tmp_path / "validation"
    validated = runner.invoke(
        app,
        [
            "validate",
            "--cohort",
            str(paths["shifted"]),
            "--registry",
            reg,
            "--out",
            str(out),
            "--bootstrap",
            "20",
        ],
    )
    assert validated.exit_code == 0, validated.output
    figures = json.loads((out / "validation.json").read_text())
    assert set(figures["landmarks"]) == {"infusion", "day28"}

    # The development cohort was stored by `train`: validate takes its id as well.
    stored = runner.invoke(
        app,
        [
            "validate",
            "--cohort",
            "c0001",
            "--registry",
            reg,
            "--out",
            str(tmp_path / "apparent"),
            "--bootstrap",
            "20",
        ],
    )
    assert stored.exit_code == 0, stored.output
    apparent = json.loads((tmp_path / "apparent" / "validation.json").read_text())
    assert apparent["landmarks"]["infusion"]["n"] == 500

    recal = runner.invoke(
        app,
        [
            "recalibrate",
            "--cohort",
            str(paths["shifted"]),
            "--registry",
            reg,
            "--bootstrap",
            "20",
            "--gate-bootstrap",
            "200",
        ],
    )
    assert recal.exit_code == 0, recal.output
    assert "registered v0002 (parent v0001)" in recal.output

    # Retraining on a small combined cohort develops by resampling, and gates on unseen rows
    # set aside before development: none of production's development or update rows.
    from training.updating.lineage import seen_rows
    from training.updating.retrain import retrain

    canonical(simulate(400, 13)).to_csv(tmp_path / "more.csv", index=False)
    registry = Registry(reg)
    production = registry.load()
    again = retrain(tmp_path / "more.csv", registry, seed=2, n_boot=200, bootstrap=5)
    assert again.strategy == "resampling"
    for lm in ("infusion", "day28"):
        gated = set(again.validation_keys[lm])
        assert gated and all(k.startswith(f"{again.new_cohort_id}/") for k in gated)
        assert not gated & set(seen_rows(registry, production, None, lm))
    held = registry.load(again.challenger).metadata["gate"]["held_out_for_gate"]
    assert held == pytest.approx(0.3 * 400, abs=2)

    scored = tmp_path / "scored.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(paths["develop"]),
            "--out",
            str(scored),
            "--registry",
            reg,
            "--quiet",
            "--pass-through",
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(scored)
    # A synthetic cohort carries the fields at progression of its progressing patients: those
    # rows are scored at the progression landmark (death by 3/6/12 months), the rest by PFS.
    at_progression = frame["landmark"] == "progression"
    assert len(frame) == 500 and 0 < at_progression.sum() < 500
    assert frame.loc[~at_progression, "risk_12m"].between(0, 1).all()
    assert frame.loc[at_progression, "death_12m"].between(0, 1).all()
    production = Registry(reg).production()
    assert set(frame["model_version"]) == {production}
