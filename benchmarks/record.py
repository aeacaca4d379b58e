"""The benchmark record: `benchmarks/results.json`, written by the benchmarks, read by the docs.

Each benchmark run with `--record FILE` replaces its own entry (its figures, each beside the
floor measured in the same run, with the commit, the machine's cores and the date); the
documentation's benchmark page is rendered from the file (`render_page`), so no figure on
it is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
TEMPLATE = ROOT / "benchmarks" / "page.md"
PAGE = ROOT / "docs" / "benchmarks.md"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def provenance() -> dict:
    """The commit measured (marked "+changes" when the tree differs from it, the record
    itself aside), the machine's cores and the date (UTC)."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    changed = [
        line
        for line in _git("status", "--porcelain").splitlines()
        if not line.endswith("benchmarks/results.json")
    ]
    return {
        "commit": commit + ("+changes" if changed else ""),
        "cores": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def figure(
    name: str,
    value: float,
    unit: str,
    floor_name: str,
    floor: float,
    target: float | None = None,
    **extra,
) -> dict:
    """One figure beside its floor (same run, same unit); ratio = value / floor."""
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "floor_name": floor_name,
        "floor": floor,
        "ratio": value / floor,
        "target_ratio": target,
        **extra,
    }


def record(
    benchmark: str, figures: list[dict], path: str | Path | None, *, notes: dict | None = None
) -> None:
    """Replace `benchmark`'s entry in the record at `path` (nothing when `path` is None).
    Written to a temporary name and renamed, so a killed run leaves the old record."""
    if path is None:
        return
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[benchmark] = {**provenance(), "figures": figures, **({"notes": notes} if notes else {})}
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    partial.replace(path)


def add_record_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--record",
        metavar="FILE",
        default=None,
        help="write this run's figures into FILE (make bench: benchmarks/results.json)",
    )


def _number(value: float, unit: str) -> str:
    return f"{value:,.2f} {unit}" if unit != "ms" else f"{value:.2f} ms"


def _extra(f: dict) -> str:
    shown = []
    if "peak_rss_mb" in f:
        shown.append(f"peak RSS {f['peak_rss_mb']:,} MB")
    if "requests" in f:
        shown.append(f"{f['requests']:,} requests, {f.get('errors', 0)} errors")
    return "; ".join(shown)


def table(entry: dict) -> str:
    """A Markdown table of one benchmark's figures, then where and when they were measured."""
    lines = [
        "| figure | value | floor (same run) | ratio | target | runs (ratios) | also |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for f in entry["figures"]:
        target = (
            ""
            if f.get("target_ratio") is None
            else f"<= {f['target_ratio']:.2f} "
            + (
                "(met)"
                if max(f.get("run_ratios") or [f["ratio"]]) <= f["target_ratio"]
                else "(not met)"
            )
        )
        runs = ", ".join(f"{r:.2f}" for r in f.get("run_ratios", []))
        lines.append(
            f"| {f['name']} | {_number(f['value'], f['unit'])} | {f['floor_name']}: "
            f"{_number(f['floor'], f['unit'])} | {f['ratio']:.2f} | {target} | "
            f"{runs} | {_extra(f)} |"
        )
    lines.append("")
    lines.append(f"Measured at commit `{entry['commit']}` on {entry['machine']}, {entry['date']}.")
    return "\n".join(lines)


_FIELD = re.compile(r"\{\{\s*([a-z_]+)(?:\.([a-z0-9_]+)(?:\.([a-z0-9_]+))?)?\s*\}\}")


def render(template: str, data: dict) -> str:
    """Fill `{{ benchmark }}` with its table, `{{ benchmark.notes.key }}` with a recorded
    note and `{{ benchmark.N.field }}` with field of its N-th figure (ratio to 2 decimals)."""

    def fill(match: re.Match) -> str:
        benchmark, key, field = match.groups()
        if benchmark not in data:
            raise KeyError(
                f"{TEMPLATE.name} asks for {benchmark!r}, which "
                f"{RESULTS.name} does not record; run make bench"
            )
        entry = data[benchmark]
        if key is None:
            return table(entry)
        if key == "notes":
            return str(entry["notes"][field])
        value = entry["figures"][int(key)][field]
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    return _FIELD.sub(fill, template)


def render_page(results: Path = RESULTS, template: Path = TEMPLATE, page: Path = PAGE) -> Path:
    text = render(template.read_text(), json.loads(results.read_text()))
    page.write_text(
        "<!-- Generated from benchmarks/results.json by benchmarks/record.py "
        "(make docs); edit benchmarks/page.md instead. -->\n" + text
    )
    return page


if __name__ == "__main__":
    print(render_page())
