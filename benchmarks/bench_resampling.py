"""Benchmark: the time of `validate`'s bootstrap on 1,000 patients, by resamples and workers.

A version is trained once on 6,000 synthetic patients (not timed); `validate_model` (what
`relapse-risk validate` runs, both landmarks) is timed on 1,000 patients of a shifted
population with 200 resamples on one process and on `--jobs` local processes (joblib, as
`--jobs N` runs them; `--scheduler tcp://...` sends the same resamples to a Dask cluster),
and with 2,000 resamples on `--jobs` processes. The 200-resample figure's floor is the same
work on one process (the ratio: the share of its time left with more workers); the
2,000-resample one's is ten times the 200-resample time on the same processes (the ratio:
how far the fixed costs, such as starting the workers, are spread). Results are the same for
the same seed however the work is spread (`tests/training/test_resampling.py`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import add_record_option, figure, record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    add_record_option(parser)
    args = parser.parse_args()

    from bench_updating import _shifted

    from model_registry.registry import Registry
    from model_registry.scoring import ScoringModel
    from training.cohort import synthetic_cohort
    from training.evaluation.external_validation import validate_model
    from training.train import train_version

    with tempfile.TemporaryDirectory() as root:
        registry = Registry(root)
        version, _ = train_version(synthetic_cohort(6000, 41), registry, seed=3)
        model = ScoringModel(registry.load(version))
        frame = _shifted(args.n, 101).frame

        def timed(n_boot: int, jobs: int) -> float:
            start = time.perf_counter()
            validate_model(model, frame, n_boot, seed=0, n_jobs=jobs)
            seconds = time.perf_counter() - start
            print(f"{args.n:,} patients, {n_boot:,} resamples, {jobs} process(es): {seconds:.1f} s")
            return seconds

        one = timed(200, 1)
        many = timed(200, args.jobs)
        many_2000 = timed(2000, args.jobs)
    label = f"{args.jobs} local processes"
    record(
        "resampling",
        [
            figure(
                f"validate, {args.n:,} patients, 200 resamples, {label}",
                many,
                "s",
                "the same on 1 process",
                one,
            ),
            figure(
                f"validate, {args.n:,} patients, 2,000 resamples, {label}",
                many_2000,
                "s",
                f"10 x 200 resamples on {label}",
                10 * many,
            ),
        ],
        args.record,
    )


if __name__ == "__main__":
    main()
