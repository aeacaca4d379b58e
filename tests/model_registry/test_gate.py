"""The gate's rule on paired intervals, and the paired bootstrap itself."""
from training.updating.gate import GateTolerances, compare


def _f(diff, low, high, champion=0.7):
    return {"champion": champion, "challenger": champion + diff, "difference": diff,
            "low": low, "high": high, "n": 400, "events": 200}


def _landmark(c=(0.0, -0.004, 0.004), slope=(0.0, -0.02, 0.03), ibs=(0.0, -0.003, 0.004)):
    return {"uno_c": _f(*c), "slope_deviation_12m": _f(*slope, champion=0.05),
            "integrated_brier": _f(*ibs, champion=0.18)}


def test_promotes_only_when_the_interval_excludes_harm_beyond_the_tolerance():
    assert compare({"infusion": _landmark(), "day28": _landmark()}).promote
    # Better on average, but the interval reaches a C-index loss of 0.02: not shown no worse.
    wide = compare({"infusion": _landmark(c=(0.01, -0.02, 0.04)), "day28": _landmark()})
    assert not wide.promote
    assert [(r["landmark"], r["metric"]) for r in wide.rows if not r["ok"]] == [
        ("infusion", "uno_c")]
    assert "keep the champion" in wide.table() and "[-0.0200, +0.0400]" in wide.table()
    calibration = {"infusion": _landmark(slope=(0.02, 0.0, 0.08)), "day28": _landmark()}
    assert not compare(calibration).promote
    assert compare(calibration, GateTolerances(slope_drift=0.1)).promote
    brier = {"infusion": _landmark(), "day28": _landmark(ibs=(0.002, -0.001, 0.006))}
    assert not compare(brier).promote


def test_a_model_against_itself_differs_by_exactly_zero_on_every_resample(trained,
                                                                         small_cohort):
    """Pairing: both models see the same resample, so identical models give a zero-width
    interval (resampling each model separately would not)."""
    from features.encode import encode
    from model_registry.scoring import ScoringModel
    from training.updating.gate import GATE_METRICS, paired_comparison

    registry, version, _ = trained
    model = ScoringModel(registry.load(version)).landmarks["infusion"]
    frame = small_cohort.frame.iloc[:800]
    same = paired_comparison(model, model, encode(frame, "infusion"),
                             frame["pfs_months"].to_numpy(float),
                             frame["pfs_event"].to_numpy(float), n_boot=30, seed=1)
    assert set(same) == set(GATE_METRICS)
    for figures in same.values():
        assert figures["difference"] == figures["low"] == figures["high"] == 0
        assert figures["n"] == 800
