"""Riley et al.'s minimum sample size against the published worked example."""

import pytest

from training.samplesize import cohort_sample_size, minimum_sample_size


def test_the_worked_example_of_riley_et_al_and_pmsampsize():
    """Riley et al., Stat Med 2019 (Part II), and pmsampsize's documentation: recurrent venous
    thromboembolism, 30 parameters, R2cs 0.051, rate 0.065 per year, 2 years, mean follow-up
    2.07 years -> criterion 1 5143, criterion 2 1039, max R2cs 0.555, 692 events, EPP 23.07."""
    size = minimum_sample_size(30, rate=0.065, timepoint=2, mean_follow_up=2.07, r2_cs=0.051)
    assert (size.n_shrinkage, size.n_optimism, size.n_required) == (5143, 1039, 5143)
    assert size.max_r2_cs == pytest.approx(0.555, abs=5e-4)
    assert round(size.events_required) == 692
    assert size.events_per_parameter == pytest.approx(23.07, abs=5e-3)
    assert size.n_precision < 5143


def test_weaker_models_and_more_parameters_need_more_patients():
    base = minimum_sample_size(20, rate=0.05, timepoint=12, mean_follow_up=15, r2_cs=0.1)
    assert minimum_sample_size(40, 0.05, 12, 15, r2_cs=0.1).n_required > base.n_required
    assert minimum_sample_size(20, 0.05, 12, 15, r2_cs=0.05).n_required > base.n_required
    with pytest.raises(ValueError, match="anticipated Cox-Snell R2"):
        minimum_sample_size(20, 0.05, 12, 15, r2_cs=0.95)


def test_a_cohort_is_summarised_by_its_rate_and_follow_up():
    size = cohort_sample_size([10.0, 20.0, 30.0, 40.0], [1, 0, 1, 0], parameters=5)
    direct = minimum_sample_size(5, rate=2 / 100, timepoint=12, mean_follow_up=25)
    assert size == direct
