import pytest

from features.schema import OUTCOMES, PROGRESSION_PREDICTORS
from features.validate import validate_frame
from model_registry.registry import Registry
from model_registry.scoring import ScoringModel
from synthetic.generator import canonical, simulate, write_csv
from training.train import choose_champion
from training.updating.gate import GateTolerances
from training.updating.retrain import retrain


def test_version_holds_everything_the_registry_promises(trained):
    registry, version, fits = trained
    meta = registry.load(version).metadata
    for key in (
        "schema_version",
        "schema_hash",
        "cohort",
        "landmarks",
        "parent_version",
        "created",
        "integrity",
    ):
        assert key in meta
    assert meta["cohort"]["source"] == "synthetic" and len(meta["cohort"]["sha256"]) == 64
    assert meta["cohort"]["generator_params_version"] == "1.2.0"
    for lm in ("infusion", "day28"):
        info = meta["landmarks"][lm]
        # The four relapse families of the two-cause model compete; two PFS references.
        assert info["family"] in ("cox_ridge", "xgb_cox", "ridge_xgb", "cure")
        assert info["outcome"] == "two_cause" and "Brier" in info["champion_reason"]
        assert set(info["metrics"]) == {
            "cox_ridge",
            "xgb_cox",
            "ridge_xgb",
            "cure",
            "cox_plain",
            "cox_base_routine",
        }
        assert info["onnx_parity_max_abs"] <= 1e-5
        low, high = info["risk_group_thresholds_12m"]
        assert 0 < low < high < 1
    progression = meta["progression"]  # the progression landmark: OS from progression
    assert progression["family"] in ("cox_ridge", "xgb_cox")
    assert progression["onnx_parity_max_abs"] <= 1e-5
    assert progression["horizons_months"] == [3.0, 6.0, 12.0]
    assert registry.file(version, "plots/infusion_calibration.png")[:4] == b"\x89PNG"
    card = registry.file(version, "model_card.md").decode()
    assert "research use only" in card.lower() and "synthetic" in card


def test_day28_model_adds_value_over_routine_predictors(trained):
    _, _, fits = trained
    for lm, fit in fits.items():
        full = fit.metrics[fit.champion]["uno_c"]
        routine = fit.metrics["cox_base_routine"]["uno_c"]
        assert full > routine + 0.02, lm


def test_champion_rule():
    m = {"cox_ridge": {"uno_c": 0.700}, "xgb_cox": {"uno_c": 0.703}}
    assert choose_champion(m)[0] == "cox_ridge"
    m["xgb_cox"]["uno_c"] = 0.71
    assert choose_champion(m)[0] == "xgb_cox"


def test_scoring_model_scores_validated_rows(trained):
    registry, version, _ = trained
    model = ScoringModel(registry.load())
    # PFS landmarks only: the fields at progression would send progressors to the third
    raw = canonical(simulate(40, 5)).drop(columns=[*OUTCOMES, *PROGRESSION_PREDICTORS])
    frame = validate_frame(raw, allow_outcomes=False, nan_is_missing=True).frame
    out = model.score(frame)
    assert list(out.index) == list(frame.index)
    assert (out.model_version == version).all()
    assert ((out.risk_6m <= out.risk_12m) & (out.risk_12m <= out.risk_24m)).all()
    assert set(out.landmark) <= {"infusion", "day28"}
    has28 = frame.ctdna_d28.notna() | frame.cart_cmax_per_ul.notna()
    assert (out.landmark[has28] == "day28").all() and (out.landmark[~has28] == "infusion").all()
    forced = model.score(frame, landmark="infusion")
    assert (forced.landmark == "infusion").all()
    assert all(isinstance(c, dict) and "prior_lines" in c for c in out.contributions)
    with pytest.raises(ValueError, match="landmark must be"):
        model.score(frame, landmark="day90")


def _new_cohort(tmp_path, n=1500, seed=77):
    path = tmp_path / f"new{seed}.csv"
    write_csv(simulate(n, seed), path)
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[1] = "old"  # age_years of data row 3
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_retrain_reports_rejected_rows_and_gates(tmp_path, trained, small_cohort):
    registry, version, _ = trained
    local = Registry(tmp_path / "reg")
    first = local.register(*_artifacts(registry, version))
    local.promote(first)
    result = retrain(_new_cohort(tmp_path), local, seed=3, n_boot=40)
    assert list(result.rejected[["row", "field"]].itertuples(index=False, name=None)) == [
        (3, "age_years")
    ]
    assert result.n_new_rows == 1500
    assert {r["landmark"] for r in result.decision.rows} == {"infusion", "day28"}
    assert local.load(result.challenger).metadata["parent_version"] == first
    assert local.production() == (result.challenger if result.promoted else first)
    gate = local.load(result.challenger).metadata["gate"]
    assert gate["champion"] == first and gate["promote"] == result.promoted
    assert len(gate["rows"]) == 20 and all(
        r["low"] <= r["challenger" if r["how"] == "challenger" else "difference"] <= r["high"]
        for r in gate["rows"]
    )
    # The family was chosen on rows disjoint from those it was gated on.
    for lm in ("infusion", "day28"):
        assert len(result.validation_keys[lm]) and len(result.selection_keys[lm])
        assert not set(result.validation_keys[lm]) & set(result.selection_keys[lm])
    # An impossible gate leaves production untouched.
    strict = retrain(
        _new_cohort(tmp_path, seed=78),
        local,
        seed=3,
        n_boot=40,
        tolerances=GateTolerances(brier_rise=-1.0),
    )
    assert not strict.promoted and local.production() == strict.champion


def _artifacts(registry, version):
    loaded = registry.load(version)
    meta = {
        k: v
        for k, v in loaded.metadata.items()
        if k not in ("version", "created", "artifacts", "files", "integrity")
    }
    return loaded.artifacts, meta
