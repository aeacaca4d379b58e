"""Benchmark: time to fit and evaluate every model family at both landmarks, by cohort size."""

from __future__ import annotations

import argparse
import time

from features.schema import LANDMARKS
from training.cohort import synthetic_cohort
from training.train import fit_landmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    args = parser.parse_args()
    print(f"{'patients':>9} {'cohort s':>9} {'fit+evaluate s':>15}   (4 families x 2 landmarks)")
    for n in args.sizes:
        start = time.perf_counter()
        cohort = synthetic_cohort(n, 11)
        made = time.perf_counter()
        for lm in LANDMARKS:
            fit_landmark(cohort, lm, 0)
        done = time.perf_counter()
        print(f"{n:9,} {made - start:9.1f} {done - made:15.1f}")


if __name__ == "__main__":
    main()
