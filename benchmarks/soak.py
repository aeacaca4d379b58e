"""Load, soak and hot reload under load against a really served instance.

N keep-alive clients post /score for M seconds; the resident memory (RSS) of every process of
the server is sampled throughout; optionally the registry's production model is promoted and
rolled back every R seconds while the load runs. Prints requests, failures, latency, req/s,
RSS after warm-up and at the end, and the model versions the answers named.

    python benchmarks/soak.py [--clients 16] [--seconds 120] [--reload-every 5]

Promises checked (exit status 1 when one fails): zero failed requests, every answer's
model_version one of the two being swapped, RSS growth under 5% after warm-up in every process.
`tests/serving/test_load.py` runs a short variant of the same function in CI.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

PATIENT = {
    "patient_id": "SOAK",
    "age_years": 63,
    "ecog": 1,
    "stage": 4,
    "extranodal_sites": 2,
    "ldh_u_l": 420,
    "ldh_uln_u_l": 250,
    "tmtv_ml": 95.0,
    "tp53_status": "altered",
    "prior_lines": 3,
    "bridging_therapy": "chemotherapy",
    "ctdna_d28": "detectable",
}
MAX_GROWTH = 0.05


@dataclass
class SoakResult:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    swaps: int = 0
    # pid -> (RSS bytes after warm-up, RSS bytes at the end)
    rss: dict[int, tuple[int, int]] = field(default_factory=dict)
    threads: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def growth(self) -> dict[int, float]:
        return {pid: end / start - 1 for pid, (start, end) in self.rss.items()}

    def report(self) -> str:
        ms = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        lines = [
            (
                f"requests {self.requests}  failed {len(self.failures)}  "
                f"req/s {self.requests / max(self.seconds, 1e-9):.0f}  "
                f"p50 {np.median(ms):.1f} ms  p99 {np.percentile(ms, 99):.1f} ms"
            ),
            (
                f"model swaps during the load {self.swaps}; answers by version "
                + ", ".join(f"{v}: {n}" for v, n in sorted(self.versions.items()))
            ),
        ]
        for pid, (start, end) in sorted(self.rss.items(), key=lambda kv: -kv[1][1]):
            lines.append(
                f"pid {pid}: RSS {start / 2**20:.1f} MiB after warm-up -> "
                f"{end / 2**20:.1f} MiB at the end ({(end / start - 1) * 100:+.2f}%); "
                "threads {} -> {}".format(*self.threads.get(pid, ("?", "?")))
            )
        lines.extend(f"failure: {f}" for f in self.failures[:5])
        return "\n".join(lines)


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _sample(processes: list[psutil.Process]) -> dict[int, tuple[int, int]]:
    """pid -> (RSS bytes, threads)"""
    out = {}
    for p in processes:
        try:
            out[p.pid] = (p.memory_info().rss, p.num_threads())
        except psutil.NoSuchProcess:
            pass
    return out


def soak(
    port: int,
    server_pid: int,
    key: str,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    swap=None,
    swap_every: float | None = None,
) -> SoakResult:
    """Drive /score with `clients` connections for `seconds` (after `warmup` seconds of the
    same load, not counted in RSS growth). `swap()` is called every `swap_every` seconds."""
    body = json.dumps({"patient": PATIENT}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    result = SoakResult()
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lat, versions, failures = [], {}, []
        while not stop.is_set():
            began = time.perf_counter()
            try:
                conn.request("POST", "/score", body=body, headers=headers)
                resp = conn.getresponse()
                content = resp.read()
                if resp.status != 200:
                    failures.append(f"HTTP {resp.status}: {content[:200]!r}")
                else:
                    version = json.loads(content)["model_version"]
                    versions[version] = versions.get(version, 0) + 1
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            lat.append((time.perf_counter() - began) * 1000)
        conn.close()
        with lock:
            result.latencies_ms.extend(lat)
            result.requests += len(lat)
            result.failures.extend(failures)
            for v, n in versions.items():
                result.versions[v] = result.versions.get(v, 0) + n

    processes = _tree(server_pid)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    start = _sample(processes)
    began = time.perf_counter()
    next_swap = began + swap_every if swap is not None and swap_every else float("inf")
    while (now := time.perf_counter()) < began + seconds:
        if now >= next_swap:
            swap()
            result.swaps += 1
            next_swap += swap_every
        time.sleep(0.05)
    end = _sample(processes)
    stop.set()
    for t in threads:
        t.join(60)
    result.seconds = time.perf_counter() - began + warmup
    both = [pid for pid in start if pid in end]
    result.rss = {pid: (start[pid][0], end[pid][0]) for pid in both}
    result.threads = {pid: (start[pid][1], end[pid][1]) for pid in both}
    return result


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_serving import start

    from model_registry.registry import Registry
    from training.cohort import synthetic_cohort
    from training.train import train_version

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument(
        "--warmup", type=float, default=45, help="seconds of load before RSS is taken"
    )
    parser.add_argument(
        "--reload-every",
        type=float,
        default=5,
        help="promote / roll back every so many seconds (0: never)",
    )
    args = parser.parse_args()

    key = "soak-key"
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp) / "registry")
        first, _ = train_version(synthetic_cohort(5000, 3), registry, seed=3)
        second, _ = train_version(synthetic_cohort(5000, 4), registry, seed=4)
        registry.promote(first)
        env = {
            **os.environ,
            "RELAPSE_RISK_REGISTRY": str(registry.root),
            "RELAPSE_RISK_API_KEYS": key,
            "BENTOML_DO_NOT_TRACK": "True",
            "RELAPSE_RISK_RELOAD_SECONDS": "0.5",
            "BENTOML_HOME": str(Path(tmp) / "bentoml"),
            "RELAPSE_RISK_HOME": tmp,
        }
        proc, port = start("serving.service:RelapseRisk", env)
        flip = [False]

        def swap() -> None:
            registry.rollback() if flip[0] else registry.promote(second)
            flip[0] = not flip[0]

        try:
            swaps = f"; promote/rollback every {args.reload_every:g} s" if args.reload_every else ""
            print(
                f"{args.clients} clients, {args.warmup:g} s warm-up then {args.seconds:g} s" + swaps
            )
            result = soak(
                port,
                proc.pid,
                key,
                clients=args.clients,
                seconds=args.seconds,
                warmup=args.warmup,
                swap=swap if args.reload_every else None,
                swap_every=args.reload_every or None,
            )
        finally:
            proc.terminate()
            proc.wait(20)
    print(result.report())
    ok = (
        not result.failures
        and set(result.versions) <= {first, second}
        and max(result.growth.values()) < MAX_GROWTH
    )
    print("promises held" if ok else "PROMISE BROKEN")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
