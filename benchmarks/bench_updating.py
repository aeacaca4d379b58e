"""Benchmark: `validate` plus `recalibrate` with their default resamples on a cohort of a
shifted population (the generator with its cure logit lowered by 1), by cohort size, against
the target of 60 s for 1,000 patients and 3 minutes for 10,000 on a 2-core machine.

The model is trained once on a synthetic cohort (`--train`, 6,000 by default; not timed).
Prints each stage's time (from the jobs' own `Stages`) and the total per size.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import pandas as pd

from features.validate import validate_frame
from model_registry.registry import Registry
from model_registry.scoring import ScoringModel
from synthetic.generator import canonical, load_params, simulate
from training.cohort import Cohort, synthetic_cohort
from training.evaluation.external_validation import DEFAULT_BOOTSTRAP, validate_model
from training.progress import Stages
from training.train import train_version
from training.updating.recalibrate import recalibrate

TARGETS_S = {1000: 60.0, 10000: 180.0}


def _shifted(n: int, seed: int) -> Cohort:
    p = load_params()
    params = p.with_overrides(cure_logit=p.value("cure_logit") - 1.0)
    frame = validate_frame(
        canonical(simulate(n, seed, params)), require_outcomes=True, nan_is_missing=True
    ).frame
    return Cohort(frame, {"source": "benchmark", "n": n}, pd.DataFrame(), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        registry = Registry(root)
        version, _ = train_version(synthetic_cohort(args.train, 41), registry, seed=3)
        registry.promote(version)
        print(
            f"model {version} trained on {args.train:,} synthetic patients; "
            f"{os.cpu_count()} cores; --jobs {args.jobs}"
        )
        print(
            f"{'patients':>9} {'validate s':>11} {'recalibrate s':>14} {'total s':>8} "
            f"{'target s':>9}  longest stages"
        )
        for n in args.sizes:
            cohort = _shifted(n, 101)
            log = io.StringIO()
            stages = Stages("bench", stream=log, bars=False)
            start = time.perf_counter()
            validate_model(
                ScoringModel(registry.load(version)),
                cohort.frame,
                DEFAULT_BOOTSTRAP,
                0,
                n_jobs=args.jobs,
                stages=stages,
            )
            validated = time.perf_counter()
            recalibrate(registry, cohort, version=version, n_jobs=args.jobs, stages=stages)
            done = time.perf_counter()
            target = TARGETS_S.get(n)
            top = sorted(stages.timings, key=lambda kv: -kv[1])[:3]
            print(
                f"{n:9,} {validated - start:11.1f} {done - validated:14.1f} "
                f"{done - start:8.1f} {target or float('nan'):9.0f}  "
                + "; ".join(f"{name} {took:.0f} s" for name, took in top)
            )


if __name__ == "__main__":
    main()
