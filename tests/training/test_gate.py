"""The champion/challenger gate: its rule, its pairing, and its size and power on populations
whose truth is known (a proportional-hazards model simulated exactly), at 500 and 5,000
patients."""

import numpy as np
import pytest

from training.calibration import censoring_weights, cloglog, fit_horizons, horizon_figures
from training.updating.gate import GateTolerances, compare, paired_comparison

HORIZONS = (6.0, 12.0, 24.0)


def _population(n: int, rng, shift: float = 0.0):
    """x ~ N(0, 1); true cumulative hazard exp(shift + x - 0.7) (t / 6)^0.8; censoring
    exponential (mean 40 months), administrative at 30."""
    x = rng.normal(size=n)
    t = 6 * (-np.log(rng.uniform(size=n)) / np.exp(shift + x - 0.7)) ** (1 / 0.8)
    c = np.minimum(rng.exponential(40, size=n), 30.0)
    return x, np.minimum(t, c), (t <= c).astype(float)


def _risk(x, a: float = 0.0):
    """The model (the truth at shift 0), its cumulative hazard scaled by exp(a)."""
    return np.stack([-np.expm1(-np.exp(a + x - 0.7 + 0.8 * np.log(h / 6))) for h in HORIZONS], 1)


def _intercept_update(x, time, event) -> float:
    return fit_horizons(cloglog(_risk(x)), time, event, slope=1.0)[0]


def test_figures_on_many_resamples_equal_the_libraries_on_one():
    from sksurv.metrics import brier_score
    from sksurv.util import Surv

    from training.calibration import calibration_slope_intercept
    from training.metrics import observed_risk

    x, t, e = _population(2000, np.random.default_rng(3))
    risk = _risk(x, 0.2)
    f = horizon_figures({"m": risk}, t, e, np.ones((2, len(t))))["m"]
    y = Surv.from_arrays(e == 1, t)
    for j, h in enumerate(HORIZONS):
        tag = f"{int(h)}m"
        assert f[f"brier_{tag}"][1] == pytest.approx(
            brier_score(y, y, 1 - risk[:, j], h)[1][0], abs=1e-12
        )
        assert f[f"observed_{tag}"][0] == pytest.approx(observed_risk(t, e, h), abs=1e-12)
        slope, intercept = calibration_slope_intercept(risk[:, j], t, e, h)
        assert f[f"calibration_slope_{tag}"][0] == pytest.approx(slope, abs=1e-5)
        assert f[f"calibration_intercept_{tag}"][0] == pytest.approx(intercept, abs=1e-5)


def test_a_proportional_shift_reads_as_intercept_log_c_and_slope_1_at_every_horizon():
    """The one scale: true H = exp(0.3) H_model. On 20,000 patients the SE of the slope is
    about 0.015 and of the intercept about 0.01, so 0.05 and 0.04 are over 3 SEs."""
    from training.calibration import calibration_slope_intercept

    x, t, e = _population(20000, np.random.default_rng(4), shift=0.3)
    for j, h in enumerate(HORIZONS):
        slope, intercept = calibration_slope_intercept(_risk(x)[:, j], t, e, h)
        assert slope == pytest.approx(1.0, abs=0.05), h
        assert intercept == pytest.approx(0.3, abs=0.04), h
    assert _intercept_update(x, t, e) == pytest.approx(0.3, abs=0.03)


def test_the_rule():
    def row(challenger, low, high, champion=0.2):
        return {
            "champion": champion,
            "challenger": challenger,
            "difference": challenger - champion,
            "low": low,
            "high": high,
            "n": 400,
            "events": 200,
        }

    def landmark(brier=(0.198, -0.006, 0.001), oe=(1.02, 0.9, 1.1), slope=(0.95, 0.7, 1.2)):
        out = {"mean_brier_all": row(*brier)}
        for tag in ("6m", "12m", "24m"):
            out[f"brier_{tag}"] = row(0.3, 0.1, 0.5)  # shown only: never decisive
            out[f"observed_expected_{tag}"] = row(*oe, champion=1.3)
            out[f"calibration_slope_{tag}"] = row(*slope, champion=1.0)
        return out

    assert compare({"infusion": landmark(), "day28": landmark()}).promote
    # Better on average, but the interval reaches a rise of 0.004: not shown no worse.
    wide = compare({"infusion": landmark(brier=(0.195, -0.01, 0.004)), "day28": landmark()})
    assert not wide.promote
    assert {(r["landmark"], r["metric"]) for r in wide.rows if not r["ok"]} == {
        ("infusion", "mean_brier_all")
    }
    assert "keep the champion" in wide.table() and "[-0.0100, +0.0040]" in wide.table()
    assert compare(
        {"infusion": landmark(brier=(0.195, -0.01, 0.004))}, GateTolerances(brier_rise=0.005)
    ).promote
    # Shown miscalibrated: the whole interval of the slope lies below 1 / 1.25.
    assert not compare({"infusion": landmark(slope=(0.5, 0.3, 0.7))}).promote
    assert not compare({"infusion": landmark(oe=(1.5, 1.3, 1.7))}).promote
    assert compare({"infusion": landmark(oe=(1.3, 1.1, 1.5))}).promote  # not shown


def test_a_model_against_itself_differs_by_exactly_zero_on_every_resample():
    x, t, e = _population(800, np.random.default_rng(5))
    same = paired_comparison(_risk(x), _risk(x), t, e, n_boot=50, seed=1)
    for key, f in same.items():
        if key.startswith(("brier", "mean_brier")):
            assert f["difference"] == f["low"] == f["high"] == 0, key
        assert f["n"] == 800


@pytest.mark.parametrize("n", [500, 5000])
def test_size_and_power(n):
    """At each size, on check patients drawn apart from the update patients:
    - a correct intercept-only update of a pure proportional-hazards shift is promoted;
    - an update estimated on the model's own population (nothing to fix) does no harm: it
      is promoted only with a mean Brier score within the tolerance of the champion's on a
      fresh 20,000 patients;
    - a challenger whose predictor is permuted (no discrimination) is refused.
    Resamples: 1,000 at 500 patients (the default), 400 at 5,000 (the decisions there lie
    many SEs from their bounds). Over 10 replicates at 500 patients the correct update was
    promoted 9 times, the permuted one never."""
    boot = 1000 if n == 500 else 400
    rng = np.random.default_rng(n)
    x, t, e = _population(n, rng, 0.3)
    a = _intercept_update(x, t, e)
    xc, tc, ec = _population(n, rng, 0.3)
    assert compare(
        {"lm": paired_comparison(_risk(xc), _risk(xc, a), tc, ec, n_boot=boot, seed=1)}
    ).promote

    x, t, e = _population(n, rng, 0.0)
    a0 = _intercept_update(x, t, e)
    xc, tc, ec = _population(n, rng, 0.0)
    decision = compare(
        {"lm": paired_comparison(_risk(xc), _risk(xc, a0), tc, ec, n_boot=boot, seed=1)}
    )
    if decision.promote:
        xf, tf, ef = _population(20000, np.random.default_rng(99), 0.0)
        fresh = horizon_figures(
            {"old": _risk(xf), "new": _risk(xf, a0)}, tf, ef, np.ones((1, len(tf)))
        )
        mean = {k: np.mean([v[f"brier_{int(h)}m"][0] for h in HORIZONS]) for k, v in fresh.items()}
        assert mean["new"] - mean["old"] <= GateTolerances().brier_rise

    permuted = compare(
        {
            "lm": paired_comparison(
                _risk(xc), _risk(rng.permutation(xc)), tc, ec, n_boot=boot, seed=1
            )
        }
    )
    assert not permuted.promote
    failed = {r["metric"] for r in permuted.rows if not r["ok"]}
    assert "mean_brier_all" in failed and "calibration_slope_12m" in failed


def test_censoring_weights_are_lifelines_kaplan_meier():
    """`CensoringKM` (numpy, many resamples at once) equals lifelines' Kaplan-Meier of
    censoring, G(T-) for the events and G(h) for those followed past h, with ties."""
    from lifelines import KaplanMeierFitter

    x, t, e = _population(1500, np.random.default_rng(6))
    t = np.maximum(np.round(t, 1), 0.1)  # ties, as registry data in tenths of a month have
    km = KaplanMeierFitter().fit(t, 1 - e)
    for h in HORIZONS:
        known, label, weight = censoring_weights(t, e, h)
        case, control = (e == 1) & (t <= h), t > h
        expected = np.where(
            case,
            1 / km.survival_function_at_times(t - 1e-9).to_numpy(),
            np.where(control, 1 / km.survival_function_at_times(h).iloc[0], 0),
        )
        assert np.array_equal(label, case) and np.array_equal(known, case | control)
        assert np.allclose(weight, expected, rtol=1e-10)
