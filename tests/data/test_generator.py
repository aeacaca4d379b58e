"""Data tests: generated cohorts are valid, deterministic and plausible."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from features.validate import validate_frame
from synthetic.generator import DAY28_MONTHS, canonical, load_params, simulate, write_csv


@pytest.fixture(scope="module")
def cohort():
    return simulate(5000, 11)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    paths = [tmp_path / f"{i}.csv" for i in range(3)]
    for path, seed in zip(paths, (7, 7, 8)):
        write_csv(simulate(800, seed), path)
    assert _digest(paths[0]) == _digest(paths[1])
    assert _digest(paths[0]) != _digest(paths[2])


def test_a_generator_object_is_accepted_and_advances():
    rng = np.random.default_rng(3)
    a, b = simulate(50, rng), simulate(50, rng)
    assert not a["pfs_months"].equals(b["pfs_months"])


def test_generated_cohort_passes_the_feature_layer(cohort):
    result = validate_frame(canonical(cohort), require_outcomes=True, nan_is_missing=True)
    assert result.errors.empty, result.errors.head().to_string()
    assert result.n_valid == len(cohort)


def test_csv_round_trip_validates(tmp_path, cohort):
    path = tmp_path / "c.csv"
    write_csv(cohort, path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    result = validate_frame(raw, require_outcomes=True)
    assert result.errors.empty and result.n_valid == len(cohort)


def test_outcomes_are_coherent(cohort):
    assert (cohort.os_months >= cohort.pfs_months).all()
    assert ((cohort.os_event == 1) <= (cohort.pfs_event == 1)).all()
    assert cohort.best_response.isin(["CR", "PR", "SD", "PD"]).all()
    # ctDNA exists only for patients who reached the day-28 landmark event-free.
    reached = cohort.pfs_months > DAY28_MONTHS
    assert cohort.loc[~reached, "ctdna_d28"].isna().all()
    assert cohort.loc[reached, "ctdna_d28"].notna().mean() == pytest.approx(0.35, abs=0.03)


def test_mechanism_links_burden_bridging_and_response(cohort):
    c = simulate(20000, 5, missing=False)
    bridged = c.bridging_therapy != "none"
    assert c.loc[bridged, "tmtv_ml"].median() > c.loc[~bridged, "tmtv_ml"].median()
    assert c.loc[bridged, "ipi"].mean() > c.loc[~bridged, "ipi"].mean()
    assert np.corrcoef(np.log(c.tmtv_ml), c.ldh_u_l / c.ldh_uln_u_l)[0, 1] > 0.2
    # Non-responders progress early; cured responders form the plateau.
    nr = c.best_response.isin(["SD", "PD"])
    assert c.loc[nr & (c.pfs_event == 1), "pfs_months"].median() < 4
    assert c.loc[c._cured, "pfs_event"].mean() < 0.15


def test_missingness_rates_follow_the_parameter_file(cohort):
    rates = load_params().value("missing_rates")
    n = len(cohort)
    for column, key in (
        ("tp53_status", "tp53_status"),
        ("tmtv_ml", "tmtv_ml"),
        ("ecog", "ecog"),
        ("ldh_u_l", "ldh"),
    ):
        # 4 binomial SDs at n = 5000 is at most 0.028.
        assert cohort[column].isna().mean() == pytest.approx(
            rates[key], abs=4 * np.sqrt(rates[key] * (1 - rates[key]) / n)
        )


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        simulate(n, 1)


@pytest.mark.parametrize("seed", range(6))
def test_draws_stay_inside_the_schema_ranges_even_in_a_heavy_tail(seed):
    """A property over seeds: with the log-normal tails made far heavier than the fitted ones
    (so that, uncapped, hundreds of draws per cohort pass the maximum), every number the
    generator writes is still valid."""
    from features.schema import FIELDS

    heavy = load_params().with_overrides(tmtv_noise=3.0, cmax_log_sd=4.0, ldh_noise=3.0)
    frame = simulate(4000, seed, heavy, missing=False)
    for f in FIELDS:
        if f.kind in ("number", "integer") and f.maximum is not None and f.name in frame:
            assert frame[f.name].max() <= f.maximum, f.name
            assert frame[f.name].min() >= f.minimum, f.name
    assert (frame["tmtv_ml"] == 20000).any()  # the tail was reached, and capped
    result = validate_frame(canonical(frame), require_outcomes=True, nan_is_missing=True)
    assert result.errors.empty, result.errors.head().to_string()


def test_the_reported_draw_is_now_within_range():
    """`synth --n 300000 --seed 3` wrote row 120429 with tmtv_ml 23755.2 (maximum 20000)."""
    frame = simulate(300_000, 3)
    assert frame["tmtv_ml"].max() <= 20000
    assert frame["tmtv_ml"].iloc[120428] == 20000
