from model_registry.gate import GateTolerances, compare


def _m(c, slope, ibs):
    return {"uno_c": c, "calibration_slope_12m": slope, "integrated_brier": ibs}


def test_gate_promotes_only_within_tolerance():
    champ = {"infusion": _m(0.72, 1.00, 0.18), "day28": _m(0.73, 0.98, 0.17)}
    same = {"infusion": _m(0.716, 1.03, 0.184), "day28": _m(0.73, 0.98, 0.17)}
    assert compare(champ, same).promote
    worse_c = {**same, "day28": _m(0.72, 0.98, 0.17)}
    decision = compare(champ, worse_c)
    assert not decision.promote
    assert [r["metric"] for r in decision.rows if not r["ok"]] == ["uno_c"]
    assert "keep the champion" in decision.table()
    miscalibrated = {**same, "infusion": _m(0.73, 1.2, 0.18)}
    assert not compare(champ, miscalibrated).promote
    assert compare(champ, miscalibrated, GateTolerances(slope_drift=0.3)).promote
