"""Resampling that scales out: the same seed gives the same intervals on one process, on two
local workers and on a local Dask cluster (each resample has its own seed)."""

import numpy as np
import pytest

from training.evaluation.external_validation import validate_landmark
from training.resampling import scheduler


class _Known:
    """A model with a known risk (no training): risk by h = 1 - exp(-exp(x) h / 12)."""

    def linear_predictor(self, X):
        return X["x"].to_numpy(float)

    def predict_risk(self, X):
        return np.stack(
            [-np.expm1(-np.exp(X["x"].to_numpy(float)) * h / 12) for h in (6.0, 12.0, 24.0)], 1
        )

    def predict_survival(self, X, grid):
        return np.exp(-np.exp(X["x"].to_numpy(float))[:, None] * np.asarray(grid)[None] / 12)


@pytest.fixture()
def known(monkeypatch):
    import pandas as pd

    import training.evaluation.external_validation as ev

    rng = np.random.default_rng(8)
    x = rng.normal(size=400)
    t = -np.log(rng.uniform(size=400)) / np.exp(x) * 12
    c = rng.uniform(6, 30, size=400)
    frame = pd.DataFrame(
        {"x": x, "pfs_months": np.minimum(t, c), "pfs_event": (t <= c).astype(float)}
    )
    monkeypatch.setattr(ev, "encode", lambda part, landmark: part[["x"]])
    return frame


def test_results_are_the_same_however_the_work_is_spread(known):
    one = validate_landmark(_Known(), known, "infusion", n_boot=24, seed=5, n_jobs=1)
    two = validate_landmark(_Known(), known, "infusion", n_boot=24, seed=5, n_jobs=2)
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with scheduler(cluster.scheduler_address) as workers:
            assert workers == 2
            dask = validate_landmark(_Known(), known, "infusion", n_boot=24, seed=5, n_jobs=workers)
    for other in (two, dask):
        for name, f in one.figures.items():
            assert f == other.figures[name] or (
                np.isnan(f["estimate"]) and np.isnan(other.figures[name]["estimate"])
            )
    assert one.figures["uno_c"]["low"] < one.figures["uno_c"]["high"]
    # and a different seed gives different resamples
    other_seed = validate_landmark(_Known(), known, "infusion", n_boot=24, seed=6)
    assert other_seed.figures["uno_c"]["low"] != one.figures["uno_c"]["low"]


def test_the_development_bootstrap_is_the_same_however_the_work_is_spread():
    """`train --cohort`'s optimism bootstrap (penalty and family chosen again in each
    resample): the same figures on one process, two local workers and a local Dask cluster."""
    from dask.distributed import LocalCluster

    from features.encode import encode
    from training.cohort import landmark_mask, synthetic_cohort
    from training.develop import optimism
    from training.landmark_fit import typed_events

    frame = synthetic_cohort(400, 5).frame
    frame = frame.loc[landmark_mask(frame, "infusion")]
    X = encode(frame, "infusion").reset_index(drop=True)
    time, event = frame["pfs_months"].to_numpy(float), frame["pfs_event"].to_numpy(float)
    apparent = {"harrell_c": 0.7, "calibration_slope_12m": 1.0}

    def run(n_jobs, seed=3):
        return optimism(
            X,
            time,
            event,
            apparent,
            bootstrap=3,
            seed=seed,
            n_jobs=n_jobs,
            kind=typed_events(frame)[0],
        )

    one = run(1)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with scheduler(cluster.scheduler_address) as workers:
            dask = run(workers)
    assert run(2) == one == dask
    assert one["harrell_c"]["optimism_se"] > 0
    assert run(1, seed=4)["harrell_c"]["optimism"] != one["harrell_c"]["optimism"]
