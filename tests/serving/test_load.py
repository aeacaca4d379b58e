"""Load, soak and hot reload under load, against a really served instance (the short variant
of `benchmarks/soak.py`; SOAK_SECONDS and SOAK_CLIENTS make it longer).

Warm-up: the worker's RSS rises for about the first 30 s of load and then stays flat (an
empty BentoML endpoint does the same; `benchmarks/soak.py` shows it), so memory is compared
from the end of a 40 s warm-up to the end of the run.
"""

import os
import sys
from pathlib import Path

import pytest

from model_registry.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from soak import MAX_GROWTH, soak

KEY = "load-test-key"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, trained, copy_version):
    source, version, _ = trained
    registry = Registry(tmp_path_factory.mktemp("load") / "registry")
    first = copy_version(source, version, registry)
    second = copy_version(source, version, registry)
    registry.promote(first)
    return registry, first, second


def test_load_with_promotions_and_rollbacks_loses_nothing_and_memory_stays_flat(
    tmp_path_factory, start_server, two_versions
):
    registry, first, second = two_versions
    server = start_server(registry.root, tmp_path_factory.mktemp("load-server"), KEY)
    flip = [False]

    def swap():
        registry.rollback() if flip[0] else registry.promote(second)
        flip[0] = not flip[0]

    try:
        server.wait_ready()
        result = soak(
            server.port,
            server.proc.pid,
            KEY,
            clients=int(os.environ.get("SOAK_CLIENTS", 4)),
            seconds=float(os.environ.get("SOAK_SECONDS", 30)),
            warmup=40,
            swap=swap,
            swap_every=2,
        )
    finally:
        server.stop()
    print(result.report())
    assert result.requests > 1000
    assert result.failures == []
    assert result.swaps >= 10
    # Every answer came from one of the two models, and both served during the run.
    assert set(result.versions) == {first, second}
    assert max(result.growth.values()) < MAX_GROWTH, result.report()
