"""Benchmark: generate and write 1,000,000 patients; prints wall time per step.

Baseline in the same run: numpy drawing and pandas writing a frame of the same shape with
independent columns (the floor for any generator that writes this file).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from synthetic.generator import canonical, simulate, write_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        frame = simulate(args.n, 1)
        t1 = time.perf_counter()
        write_csv(frame, Path(tmp) / "cohort.csv")
        t2 = time.perf_counter()
        rng = np.random.default_rng(1)
        shape = canonical(frame).shape
        floor = pd.DataFrame(rng.random(shape), columns=canonical(frame).columns)
        t3 = time.perf_counter()
        floor.to_csv(Path(tmp) / "floor.csv", index=False, float_format="%.6g")
        t4 = time.perf_counter()
    print(f"patients            {args.n:>12,}")
    print(f"simulate            {t1 - t0:>10.1f} s")
    print(f"write CSV           {t2 - t1:>10.1f} s")
    print(f"total               {t2 - t0:>10.1f} s  (target < 60 s)")
    print(f"floor: draw+write   {t4 - t2:>10.1f} s  (independent uniforms, same shape)")


if __name__ == "__main__":
    main()
