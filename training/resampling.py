"""Resampling loops that scale out: each resample is drawn from its own seed (seed, b), and
the loop runs through joblib, so the same seed gives the same figures on one core, on local
workers or on a Dask cluster (`scheduler`)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from joblib import Parallel, delayed, parallel_config
from tqdm import tqdm


def resample_indices(n: int, seed: int, b: int) -> np.ndarray:
    """Patients (positions) of bootstrap resample b; the same as
    `training.calibration.resample_counts` counts for it."""
    return np.random.default_rng([seed, b]).integers(0, n, n)


def run_resamples(
    fn,
    n_boot: int,
    *,
    seed: int,
    args: tuple = (),
    n_jobs: int = 1,
    progress: bool = False,
    desc: str = "bootstrap",
) -> list:
    """[fn(b, seed, *args) for b in range(n_boot)], in order, through joblib with `n_jobs`
    workers (or the backend of an enclosing `scheduler`), with a progress bar."""
    if n_jobs == 1:
        jobs = (fn(b, seed, *args) for b in range(n_boot))
    else:
        jobs = Parallel(n_jobs=n_jobs, return_as="generator", batch_size="auto")(
            delayed(fn)(b, seed, *args) for b in range(n_boot)
        )
    return list(tqdm(jobs, total=n_boot, desc=desc, disable=not progress, unit="resample"))


@contextmanager
def scheduler(address: str | None, n_jobs: int = 1):
    """Run the enclosed resampling loops on the Dask cluster at `address` (joblib's dask
    backend; workers need this package installed), or locally when None. Yields the number
    of workers the loops should ask for."""
    if not address:
        yield n_jobs
        return
    from dask.distributed import Client

    with Client(address) as client, parallel_config(backend="dask"):
        yield max(1, sum(client.nthreads().values()))
