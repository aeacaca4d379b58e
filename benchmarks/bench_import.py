"""Benchmark: import a 1,000,000-row registry export through the example mapping.

The export (`synthetic.exports`: own column names, codes, ukat/L, cm3, day-first dates, planted
bad codes) is imported by `relapse-risk import`'s code in chunks. Prints wall time, rows/s and
peak memory (RSS) next to the floor of plain pandas reading and writing the same file in the
same chunks, each in its own process, and checks that every input row is accounted for.
Targets: every row accounted for, time at most 3x the floor, peak RSS bounded (< 1.5 GB).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import parse_args, run_floor  # noqa: E402  (the scoring benchmark's floor)

OURS = """
import sys, time
from batch.csv_import import import_csv
from features.mapping import load_mapping
src, dst, chunk, mapping = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
s = import_csv(src, dst, load_mapping(mapping), chunk_rows=chunk)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t, peak, s.rows_read, s.scored, s.rejected)
"""
MAPPING = Path(__file__).resolve().parents[1] / "examples" / "registry_mapping.yaml"


def make_export(path: Path, n: int, bad_every: int) -> int:
    from features.validate import validate_frame
    from synthetic.exports import registry_export
    from synthetic.generator import canonical, simulate

    frame = validate_frame(canonical(simulate(n, 2024)), require_outcomes=True,
                           nan_is_missing=True).frame
    export = registry_export(frame, 2024)
    bad = np.arange(bad_every - 1, n, bad_every)
    export.loc[bad, "TP53"] = "pending"
    export.to_csv(path, index=False)
    return len(bad)


def main() -> None:
    args = parse_args(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "export.csv"
        planted = make_export(src, args.n, args.bad_every)
        floor_s, floor_kb = run_floor(src, tmp / "floor.csv", args.chunk)
        ours = subprocess.run([sys.executable, "-c", OURS, str(src), str(tmp / "out.csv"),
                               str(args.chunk), str(MAPPING)], capture_output=True, text=True,
                              check=True)
        ours_s, ours_kb, read, accepted, rejected = map(float, ours.stdout.split())
        out_rows = sum(1 for _ in open(tmp / "out.csv")) - 1
        err_rows = {int(line.split(",", 1)[0]) for line in list(open(tmp / "out.errors.csv"))[1:]}
    print(f"rows {args.n:,} (planted bad codes: {planted}), chunks of {args.chunk:,}")
    print(f"{'':22} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12}")
    print(f"{'pandas read+write':22} {floor_s:8.1f} {args.n / floor_s:10,.0f} "
          f"{floor_kb / 1024:12.0f}")
    print(f"{'relapse-risk import':22} {ours_s:8.1f} {args.n / ours_s:10,.0f} "
          f"{ours_kb / 1024:12.0f}")
    print(f"time ratio {ours_s / floor_s:.2f} (target <= 3); peak RSS target < 1536 MB")
    accounted = out_rows + len(err_rows)
    print(f"accounted for: {out_rows:,} accepted + {len(err_rows):,} rejected = {accounted:,} "
          f"of {int(read):,} read ({'all' if accounted == args.n else 'MISSING ROWS'})")


if __name__ == "__main__":
    main()
