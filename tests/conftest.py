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


# Scheduling on `make test`'s workers (`--dist loadfile`, refined here). A test file is one
# group, run on one worker so that its module fixtures (trained versions, servers) are built
# once; the tests in SPLIT are a group per parametrization (the documentation pages share only
# a session fixture). Groups are handed out longest first, so that the two workers finish
# together instead of one idling while the other runs a long file it was handed last. The
# order is from a profile of the whole suite (seconds per group on the 2-core machine,
# `--durations=0`); a group missing from it runs after those listed, nothing else.
# (xdist's own `--dist loadgroup` marks groups through a node attribute pytest 9 no longer
# reads, so the grouping is done by a scheduler instead.)
SPLIT = ("tests/test_doc_blocks.py::test_the_blocks_of_each_page_run",)
LONGEST_FIRST = (
    "tests/serving/test_bento.py",  # 92
    "tests/training/test_recalibrate.py",  # 82
    "tests/test_doc_blocks.py::test_the_blocks_of_each_page_run[README.md]",  # 77
    "tests/serving/test_load.py",  # 76
    "tests/model_registry/test_cohorts.py",  # 58
    "tests/training/test_develop.py",  # 57
    "tests/training/test_chain.py",  # 55
    "tests/test_doc_blocks.py::test_the_blocks_of_each_page_run[docs/registry-data.md]",  # 54
    "tests/training/test_external.py",  # 51
    "tests/test_cli_models.py",  # 46
    "tests/synthetic/test_fit.py",  # 46
    "tests/test_doc_blocks.py::test_the_blocks_of_each_page_run[docs/validation-and-updating.md]",
    "tests/serving/test_http.py",  # 43
    "tests/training/test_causes.py",  # 43
    "tests/synthetic/test_oracle.py",  # 42
    "tests/serving/test_wheel.py",  # 36
    "tests/synthetic/test_calibration.py",  # 35
    "tests/training/test_resampling.py",  # 33
    "tests/batch/test_csv_scoring.py",  # 28
    "tests/training/test_train.py",  # 24
    "tests/serving/test_calculator.py",  # 22
)


def _group(nodeid: str) -> str:
    if nodeid.split("[", 1)[0] in SPLIT:
        return nodeid
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the groups of `_group`, in collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    config.option.loadscopereorder = False  # keep the order below: longest first
    return Groups(config, log)


def pytest_collection_modifyitems(items):
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    # A stable sort: each group's tests stay together and in their file's order.
    items.sort(key=lambda item: rank.get(_group(item.nodeid), len(rank)))


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
