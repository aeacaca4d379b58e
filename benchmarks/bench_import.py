"""Benchmark: import a 1,000,000-row registry export through the example mapping.

The export (`synthetic.exports`: own column names, codes, ukat/L, cm3, day-first dates, planted
bad codes) is imported by `relapse-risk import`'s code in chunks. Prints wall time, rows/s and
peak memory (RSS) next to the floor of plain pandas reading and writing the same file in the
same chunks, each in its own process, and checks that every input row is accounted for.
Targets: every row accounted for, time at most 2x the floor, peak RSS bounded (< 1.5 GB).
`--runs N` repeats floor and import N times in a row (each pair's ratio printed, all of them
recorded with the median run).

Then the same table's first `--formats-n` rows (100,000) as other files analysts hold, each
imported through the same mapping (column names made valid for Stata/SPSS/SAS): a UTF-8 CSV,
a semicolon / decimal-comma / Windows-1252 CSV, an Excel workbook (calamine), SAS transport
(.xpt; .sas7bdat cannot be written by open tools), Stata (.dta) and SPSS (.sav); beside them
the bare read of the workbook by calamine and by openpyxl (why calamine). Wall time and peak
RSS, each in its own process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import paired_figure, parse_args, run_floor  # noqa: E402  (the same floor)
from record import record  # noqa: E402

OURS = """
import resource, sys, time
from batch.pipeline import default_workers  # as the command line
from batch.csv_import import import_csv
from features.mapping import load_mapping
src, dst, chunk, mapping = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
s = import_csv(src, dst, load_mapping(mapping), chunk_rows=chunk,
               workers=default_workers())
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB, the largest
peak = int(peak) + default_workers() * worker
print(time.perf_counter() - t, peak, s.rows_read, s.scored, s.rejected)
"""
MAPPING = Path(__file__).resolve().parents[1] / "examples" / "registry_mapping.yaml"
READ_ONLY = """
import sys, time
import pandas as pd
src, engine = sys.argv[1], sys.argv[2]
t = time.perf_counter()
n = len(pd.read_excel(src, engine=engine))
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t, peak, n, n, 0)
"""
NUMBERS = ("LDH (ukat/L)", "LDH ULN (ukat/L)", "TMTV (cm3)", "CAR-T peak (cells/uL)")
INTEGERS = ("ECOG PS", "Extranodal sites", "IPI", "aaIPI", "Prior lines")
DATES = ("Date of birth", "Infusion date", "Progression date", "Date of death", "Last contact")


def _safe(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_").lower()


def write_formats(src: Path, tmp: Path, n: int) -> tuple[dict[str, Path], Path]:
    """The first `n` rows of the export as each format, and the mapping they share."""
    import pyreadstat
    import yaml

    text = pd.read_csv(src, dtype=str, keep_default_na=False, nrows=n)
    typed = text.replace({"NA": np.nan, "": np.nan})
    for c in NUMBERS + INTEGERS:
        typed[c] = pd.to_numeric(typed[c])
    for c in DATES:
        typed[c] = pd.to_datetime(typed[c], format="%d/%m/%Y", errors="coerce")
    text, typed = text.rename(columns=_safe), typed.rename(columns=_safe)
    files = {
        "CSV, UTF-8": tmp / "f.csv",
        "CSV ; , cp1252": tmp / "f_fr.csv",
        "Excel .xlsx": tmp / "f.xlsx",
        "SAS .xpt": tmp / "f.xpt",
        "Stata .dta": tmp / "f.dta",
        "SPSS .sav": tmp / "f.sav",
    }
    text.to_csv(files["CSV, UTF-8"], index=False)
    french = text.copy()
    for c in map(_safe, NUMBERS):
        french[c] = french[c].str.replace(".", ",", regex=False)
    french.to_csv(files["CSV ; , cp1252"], index=False, sep=";", encoding="cp1252")
    typed.to_excel(files["Excel .xlsx"], index=False)
    stat = typed.copy()
    for c in stat.columns:
        if stat[c].dtype == object:
            stat[c] = stat[c].fillna("")
    pyreadstat.write_xport(stat, str(files["SAS .xpt"]), table_name="EXPORT")
    pyreadstat.write_dta(stat, str(files["Stata .dta"]))
    pyreadstat.write_sav(stat, str(files["SPSS .sav"]))
    raw = yaml.safe_load(MAPPING.read_text())
    raw["columns"] = {k: _safe(v) for k, v in raw["columns"].items()}
    raw["dates"] = {k: v if k == "format" else _safe(v) for k, v in raw["dates"].items()}
    mapping = tmp / "safe_mapping.yaml"
    mapping.write_text(yaml.safe_dump(raw))
    return files, mapping


def _run(code: str, *args) -> tuple[float, float, int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True
    )
    seconds, peak_kb, read, accepted, rejected = map(float, out.stdout.split())
    return seconds, peak_kb / 1024, int(read), int(accepted), int(rejected)


def make_export(path: Path, n: int, bad_every: int) -> int:
    from features.validate import validate_frame
    from synthetic.exports import registry_export
    from synthetic.generator import canonical, simulate

    frame = validate_frame(
        canonical(simulate(n, 2024)), require_outcomes=True, nan_is_missing=True
    ).frame
    export = registry_export(frame, 2024)
    bad = np.arange(bad_every - 1, n, bad_every)
    export.loc[bad, "TP53"] = "pending"
    export.to_csv(path, index=False)
    return len(bad)


def main() -> None:
    args = parse_args(__doc__, formats_n=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "export.csv"
        planted = make_export(src, args.n, args.bad_every)
        print(f"rows {args.n:,} (planted bad codes: {planted}), chunks of {args.chunk:,}")
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
                    str(MAPPING),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            ours_s, ours_kb, read, accepted, rejected = map(float, ours.stdout.split())
            out_rows = sum(1 for _ in open(tmp / "out.csv")) - 1
            err_rows = {
                int(line.split(",", 1)[0]) for line in list(open(tmp / "out.errors.csv"))[1:]
            }
            print(f"run {run}: {'':14} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12}")
            print(
                f"{'pandas read+write':22} {floor_s:8.1f} {args.n / floor_s:10,.0f} "
                f"{floor_kb / 1024:12.0f}"
            )
            print(
                f"{'relapse-risk import':22} {ours_s:8.1f} {args.n / ours_s:10,.0f} "
                f"{ours_kb / 1024:12.0f}"
            )
            print(f"time ratio {ours_s / floor_s:.2f} (target <= 2); peak RSS target < 1536 MB")
            accounted = out_rows + len(err_rows)
            print(
                f"accounted for: {out_rows:,} accepted + {len(err_rows):,} rejected = "
                f"{accounted:,} of {int(read):,} read "
                f"({'all' if accounted == args.n else 'MISSING ROWS'})"
            )
            if accounted != args.n:
                raise SystemExit("rows went missing")
            pairs.append((ours_s, floor_s, ours_kb / 1024))
        record(
            "import",
            [
                paired_figure(
                    f"import, {args.n:,} rows ({planted:,} bad codes)",
                    "pandas read+write",
                    pairs,
                    2.0,
                )
            ],
            args.record,
        )
        formats = []
        if args.formats_n:
            files, safe_mapping = write_formats(src, tmp, args.formats_n)
            for label, path in files.items():
                formats.append(
                    (f"import {label}", *_run(OURS, path, tmp / "o.csv", args.chunk, safe_mapping))
                )
            for engine in ("calamine", "openpyxl"):
                formats.append(
                    (f"read .xlsx: {engine}", *_run(READ_ONLY, files["Excel .xlsx"], engine))
                )
    if formats:
        print(f"\nthe first {args.formats_n:,} rows as other formats, the same mapping:")
        print(f"{'':26} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'accepted':>9}")
        for label, seconds, peak_mb, n_read, accepted, _ in formats:
            print(
                f"{label:26} {seconds:8.1f} {n_read / seconds:10,.0f} {peak_mb:12.0f} {accepted:9,}"
            )


if __name__ == "__main__":
    main()
