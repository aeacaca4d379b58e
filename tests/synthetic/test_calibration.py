"""Calibration: the generator reproduces the evidence table, checked at two sample sizes."""

import json

import numpy as np
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv
from typer.testing import CliRunner

from relapse_risk.cli import app
from synthetic.calibration import CohortStatistics, calibration_rows, cox_breslow, passes
from synthetic.evidence import load_evidence
from synthetic.generator import load_params, simulate

# Four standard errors: with ~45 checked figures the chance that any one of them strays that
# far by sampling alone is about 45 * 6e-5 = 0.3% (and the seed is fixed, so it is stable).
Z = 4.0


def test_fast_cox_agrees_with_scikit_survival():
    cohort = simulate(4000, 21)
    stats = CohortStatistics(cohort)
    design = stats._design(["prior_lines", "bridging", "ldh_elevated", "ipi"])
    keep = design.notna().all(axis=1).to_numpy()
    x = design.to_numpy(float)[keep]
    t, e = stats.pfs_t[keep], stats.pfs_e[keep]
    reference = CoxPHSurvivalAnalysis(ties="breslow").fit(x, Surv.from_arrays(e == 1, t))
    np.testing.assert_allclose(cox_breslow(x, t, e), reference.coef_, atol=1e-6)
    # lifelines (Efron ties, used for the report) agrees to within tie-handling differences.
    slow = stats.cox_pfs
    fast = CohortStatistics(cohort, fast=True).cox_pfs
    np.testing.assert_allclose(np.log(fast.hr), np.log(slow.hr), atol=2e-3)


def test_small_cohort_is_consistent_with_every_figure():
    """n = 8000: each simulated figure lies within Z standard errors of its tolerance band."""
    rows = calibration_rows(simulate(8000, 3))
    checked = 0
    for row in rows:
        if row.passed is None or row.passed:
            checked += row.passed is not None
            continue
        ev, est = row.evidence, row.estimate
        lo, hi = ev.acceptance_interval()
        log = ev.unit in ("HR", "OR", "months", "cells/uL")
        se = est.standard_error(log_scale=log)
        assert np.isfinite(se), f"{ev.id}: no standard error to judge a miss by"
        value, lo, hi = (np.log(est.value), np.log(lo), np.log(hi)) if log else (est.value, lo, hi)
        distance = max(lo - value, value - hi, 0.0)
        assert distance <= Z * se, (
            f"{ev.id}: simulated {est.value:.3g} is {distance / se:.1f} SE outside "
            f"{lo:.3g}-{hi:.3g}"
        )
        checked += 1
    assert checked >= 40


def test_calibrate_command_passes_at_the_documented_size():
    """The done criterion of the foundation: `calibrate --n 20000 --seed 1` passes every row."""
    result = CliRunner().invoke(app, ["calibrate", "--n", "20000", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "checks passed" in result.output


def test_calibrate_fails_loudly_on_a_broken_generator(tmp_path):
    params = json.loads(load_params().to_json())
    params["fitted"]["time_scale"] *= 3  # triples every time to progression
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(params))
    result = CliRunner().invoke(app, ["calibrate", "--n", "5000", "--params", str(path)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "mc514_median_pfs" in result.output


def test_pass_rule_uses_the_tolerance():
    ev = load_evidence()["mc514_hr_pfs_lines"]
    from synthetic.calibration import Estimate

    assert passes(ev, Estimate(1.47 * 1.14))
    assert not passes(ev, Estimate(1.47 * 1.16))
    above = load_evidence()["review_ctdna_d28_undetectable"]
    assert passes(above, Estimate(0.51)) and not passes(above, Estimate(0.49))
