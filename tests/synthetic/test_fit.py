import numpy as np
import pytest

from synthetic.calibration import CohortStatistics
from synthetic.evidence import load_evidence
from synthetic.fit import _targets, fit_params, residual
from synthetic.generator import load_params, simulate


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("mc514_hr_pfs_lines", 1.47, 0.0),
        ("mc514_hr_pfs_lines", 1.47 * 1.15, 1.0),  # one tolerance unit ~ the edge of the band
        ("mc514_median_pfs", 6.6, -1.0),
        ("review_ctdna_d28_undetectable", 0.70, 0.0),
        ("review_ctdna_d28_undetectable", 0.50, 1.0),
    ],
)
def test_residual_is_in_tolerance_units(key, value, expected):
    assert residual(load_evidence()[key], value) == pytest.approx(expected, abs=0.07)


def test_fit_pulls_a_displaced_parameter_back():
    """Displace the time scale; a short fit must bring median PFS back inside tolerance."""
    start = load_params()
    displaced = start.with_fitted({"time_scale": start.fitted["time_scale"] * 1.6})
    # 1 + 27 simulations for the first Jacobian (one per fitted parameter), then the steps.
    result = fit_params(displaced, n=6000, seed=5, max_evaluations=90, progress=False)
    assert result.start_residuals["mc514_median_pfs"] > 2.0  # far outside to begin with
    assert abs(result.residuals["mc514_median_pfs"]) < 1.0
    assert result.params.fit_report["residuals_in_tolerance_units"][
        "mc514_median_pfs"
    ] == pytest.approx(result.residuals["mc514_median_pfs"], abs=1e-4)
    before = sum(v * v for v in result.start_residuals.values())
    after = sum(v * v for v in result.residuals.values())
    # At n = 6000 sampling noise alone leaves residuals: the shipped (undisplaced)
    # parameters score `floor` on this sample. The fit must get back to about there.
    statistics = CohortStatistics(simulate(6000, 5, start), fast=True)
    floor = sum(
        residual(ev, statistics.estimate(ev).value) ** 2 for ev in _targets(load_evidence())
    )
    assert before > 2 * floor
    assert after < 1.25 * floor
    assert np.isfinite(list(result.residuals.values())).all()
