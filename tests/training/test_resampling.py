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
