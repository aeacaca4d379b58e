import os

# One BLAS and OpenMP thread per process: `make test` runs a worker per core, and OpenBLAS's
# threads on top of them spin against each other (two test files side by side took 270 s
# with them, 74 s without). Set before numpy loads, and so inherited by the commands and
# servers the tests start; `threadpool_limits` covers a library a plugin loaded first.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from model_registry.registry import Registry  # noqa: E402
from training.cohort import synthetic_cohort  # noqa: E402
from training.train import train_version  # noqa: E402

threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def valid_record():
    """A complete, consistent infusion-landmark patient."""
    return {
        "patient_id": "P-001",
        "age_years": 66,
        "ecog": 1,
        "stage": 4,
        "extranodal_sites": 2,
        "ldh_u_l": 410,
        "ldh_uln_u_l": 250,
        "ipi": 4,
        "aaipi": 2,
        "tmtv_ml": 120.5,
        "tp53_status": "wild_type",
        "prior_lines": 3,
        "bridging_therapy": "chemotherapy",
    }


@pytest.fixture(scope="session")
def small_cohort():
    return synthetic_cohort(6000, 41)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_cohort):
    """One trained, registered and promoted version on a small synthetic cohort."""
    registry = Registry(tmp_path_factory.mktemp("registry"))
    version, fits = train_version(small_cohort, registry, seed=3)
    registry.promote(version)
    return registry, version, fits


@pytest.fixture(scope="session")
def copy_version():
    """copy_version(source, version, target) registers a copy of a version in another
    registry (a new version there, same artifacts) and returns its name."""

    def copy(source, version, target):
        loaded = source.load(version)
        meta = {
            k: v
            for k, v in loaded.metadata.items()
            if k not in ("version", "created", "artifacts", "files", "integrity")
        }
        files = {n: source.file(version, n) for n in loaded.metadata["files"]}
        return target.register(loaded.artifacts, meta, files)

    return copy
