"""Benchmark: score a 1,000,000-row registry CSV with planted bad rows.

Prints wall time, rows/s and peak memory (RSS) of `relapse-risk score`, next to the floor of
plain pandas reading and writing the same file in the same chunks, each in its own process,
and checks that every input row is accounted for. Targets: every row accounted for, peak RSS
under 1.5 GB, time at most 2x the floor. `--runs N` repeats floor and scoring N times in a
row (the ratio of each pair is printed; the record holds all of them and the median run).
Scoring uses as many worker processes as the command line would (the CPUs it may use); its
peak RSS is the main process's plus, per worker, the largest worker's (an upper bound: the
pages they share are counted again).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import add_record_option, figure, record  # noqa: E402

FLOOR = """
import sys, time, pandas as pd
src, dst, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
with open(dst, "w") as out:
    for i, part in enumerate(pd.read_csv(src, dtype=str, keep_default_na=False, chunksize=chunk)):
        part.to_csv(out, header=i == 0, index=False)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t, peak)
"""

OURS = """
import resource, sys, time
from batch.pipeline import default_workers  # as the command line
from batch.csv_scoring import score_csv
from model_registry.registry import Registry
from model_registry.scoring import ScoringModel
src, dst, chunk, registry = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
model = ScoringModel(Registry(registry).load(), bulk=True)
s = score_csv(src, dst, model, chunk_rows=chunk, workers=default_workers())
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB, the largest
peak = int(peak) + default_workers() * worker
print(time.perf_counter() - t, peak, s.rows_read, s.scored, s.rejected)
"""


def make_input(path: Path, n: int, bad_every: int) -> int:
    from synthetic.generator import simulate, write_csv

    frame = simulate(n, 2024)
    bad = np.arange(bad_every - 1, n, bad_every)
    frame = frame.astype({"age_years": object})
    frame.loc[bad, "age_years"] = "unknown"
    write_csv(frame, path)
    return len(bad)


def parse_args(doc: str, formats_n: bool = False) -> argparse.Namespace:
    """The options every file benchmark takes (shared with bench_import.py, which also takes
    --formats-n: rows of the other file formats, 0 to skip them)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--bad-every", type=int, default=997)
    parser.add_argument(
        "--runs", type=int, default=1, help="floor and ours, this many times in a row"
    )
    if formats_n:
        parser.add_argument("--formats-n", type=int, default=100_000)
    add_record_option(parser)
    return parser.parse_args()


def paired_figure(
    name: str, floor_name: str, pairs: list[tuple[float, float, float]], target: float, **extra
) -> dict:
    """The median run (by ratio) of `pairs` (ours s, floor s, ours peak MB) as a figure,
    with every run's ratio beside it."""
    ratios = [ours / floor for ours, floor, _ in pairs]
    ours, floor, peak = pairs[int(np.argsort(ratios)[len(ratios) // 2])]
    return figure(
        name,
        ours,
        "s",
        floor_name,
        floor,
        target=target,
        run_ratios=[round(r, 2) for r in ratios],
        peak_rss_mb=round(peak),
        **extra,
    )


def run_floor(src: Path, dst: Path, chunk: int) -> tuple[float, float]:
    """Seconds and peak RSS (kB) of plain pandas reading and writing `src` in chunks."""
    floor = subprocess.run(
        [sys.executable, "-c", FLOOR, str(src), str(dst), str(chunk)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak_kb = map(float, floor.stdout.split())
    return seconds, peak_kb


def main() -> None:
    args = parse_args(__doc__)
    from model_registry.registry import Registry
    from training.cohort import synthetic_cohort
    from training.train import train_version

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        registry = Registry(tmp / "registry")
        version, _ = train_version(synthetic_cohort(20000, 3), registry)
        registry.promote(version)
        src = tmp / "registry_export.csv"
        planted = make_input(src, args.n, args.bad_every)
        print(f"rows {args.n:,} (planted bad rows: {planted}), chunks of {args.chunk:,}")
        pairs = []
        for run in range(1, args.runs + 1):
            floor_s, floor_kb = run_floor(src, tmp / "floor.csv", args.chunk)
            ours = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    OURS,
                    str(src),
                    str(tmp / "out.csv"),
                    str(args.chunk),
                    str(registry.root),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            ours_s, ours_kb, read, scored, rejected = map(float, ours.stdout.split())
            out_rows = sum(1 for _ in open(tmp / "out.csv")) - 1
            err_rows = {
                int(line.split(",", 1)[0]) for line in list(open(tmp / "out.errors.csv"))[1:]
            }
            print(f"run {run}: {'':14} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12}")
            for label, seconds, kb in (
                ("pandas read+write", floor_s, floor_kb),
                ("relapse-risk score", ours_s, ours_kb),
            ):
                print(f"{label:22} {seconds:8.1f} {args.n / seconds:10,.0f} {kb / 1024:12.0f}")
            print(f"time ratio {ours_s / floor_s:.2f} (target <= 2); peak RSS target < 1536 MB")
            accounted = out_rows + len(err_rows)
            print(
                f"accounted for: {out_rows:,} scored + {len(err_rows):,} rejected = "
                f"{accounted:,} of {int(read):,} read "
                f"({'all' if accounted == args.n else 'MISSING ROWS'})"
            )
            print(json.dumps({"scored": scored, "rejected": rejected}))
            if accounted != args.n:
                raise SystemExit("rows went missing")
            pairs.append((ours_s, floor_s, ours_kb / 1024))
    record(
        "batch",
        [
            paired_figure(
                f"batch scoring, {args.n:,} rows ({planted:,} bad)", "pandas read+write", pairs, 2.0
            )
        ],
        args.record,
    )


if __name__ == "__main__":
    main()
