"""Benchmark: generate and write 1,000,000 patients; prints wall time per step.

Baseline in the same run: plain pandas writing the same canonical frame in one call (the
floor for writing this file), so the figures can be compared on a noisy machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
        canonical(frame).to_csv(Path(tmp) / "floor.csv", index=False)
        t3 = time.perf_counter()
        size_mb = (Path(tmp) / "cohort.csv").stat().st_size / 1e6
    print(f"patients                  {args.n:>12,}")
    print(f"simulate                  {t1 - t0:>10.1f} s")
    print(f"write CSV ({size_mb:.0f} MB)        {t2 - t1:>10.1f} s")
    print(f"total                     {t2 - t0:>10.1f} s   target < 60 s")
    print(f"floor: pandas to_csv      {t3 - t2:>10.1f} s   same frame, one call")


if __name__ == "__main__":
    main()
