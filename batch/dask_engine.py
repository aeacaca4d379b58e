"""The same chunk scorer on Dask, for registries that outgrow one machine.

Partitions of the CSV are scored by `score_chunk` on the workers; each worker loads the
model once (verified, ONNX only) from the registry path, which must be reachable from every
worker (a shared filesystem). Results come back in input order and are written by the
client exactly as the local engine writes them, so the files are byte-identical.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from batch.csv_scoring import (
    ERROR_COLUMNS,
    InputFileError,
    Summary,
    check_columns,
    check_outputs,
    errors_path_for,
    open_source,
    result_columns,
    score_chunk,
)
from features.schema import AUTO
from model_registry.atomic import atomic_paths

_MODELS: dict = {}


def _model(registry_root: str, version: str):
    key = (registry_root, version)
    if key not in _MODELS:  # once per worker process
        from model_registry.registry import Registry
        from model_registry.scoring import ScoringModel

        _MODELS[key] = ScoringModel(Registry(registry_root).load(version), bulk=True)
    return _MODELS[key]


def _score_partition(
    part,
    first_row: int,
    registry_root: str,
    version: str,
    landmark: str,
    pass_through: tuple[str, ...],
    mapping=None,
    columns=(),
):
    import pandas as pd

    part = part.copy()
    part.columns = [c.strip() for c in part.columns]
    part.index = pd.RangeIndex(first_row - 1, first_row - 1 + len(part))
    if part.empty:
        return part.iloc[:0], pd.DataFrame(columns=list(ERROR_COLUMNS)), 0
    scored, errors = score_chunk(
        part, _model(registry_root, version), first_row, landmark, pass_through, mapping, columns
    )
    return scored, errors, len(part)


def score_csv_dask(
    source: str | Path,
    out: str | Path,
    registry_root: str | Path,
    version: str,
    *,
    landmark: str = AUTO,
    scheduler: str | None = None,
    blocksize: str = "32MB",
    pass_through_unknown: bool = False,
    progress: Callable[[int], None] | None = None,
    mapping=None,
    mapping_path: str | Path | None = None,
) -> Summary:
    """Score a CSV with Dask (a local cluster unless `scheduler` names one); `mapping`: a
    `features.mapping.Mapping` for a registry export's own columns."""
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    source, out = Path(source), Path(out)
    check_outputs(source, out, mapping_path)
    start = time.perf_counter()
    export = open_source(source, mapping)
    if not export.fast:
        raise InputFileError(
            f"the Dask engine reads UTF-8, comma-separated CSV; "
            f"{export.describe()}: score it with --engine local"
        )
    header, unknown = check_columns(source, pass_through_unknown, mapping=mapping, export=export)
    summary = Summary(passed_through=unknown)
    gz = source.name.endswith(".gz")
    frame = dd.read_csv(
        str(source),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=True,
        encoding="utf-8-sig",
        index_col=False,
        blocksize=None if gz else blocksize,
        compression="gzip" if gz else None,
    )
    columns = result_columns(header, mapping)
    cluster = (
        None
        if scheduler
        else LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    )
    try:
        with Client(scheduler or cluster) as client:
            parts = frame.to_delayed()
            lengths = client.compute([dask.delayed(len)(p) for p in parts], sync=True)
            offsets, running = [], 0
            for n in lengths:
                offsets.append(running + 1)
                running += n
            with (
                atomic_paths(out, errors_path_for(out)) as (out_tmp, errors_tmp),
                open(out_tmp, "w", newline="", encoding="utf-8") as scored_handle,
                open(errors_tmp, "w", newline="", encoding="utf-8") as err_handle,
            ):
                csv.writer(scored_handle, lineterminator="\n").writerow(["row", *header, *columns])
                csv.writer(err_handle, lineterminator="\n").writerow(ERROR_COLUMNS)
                window: deque = deque()

                def drain_one() -> None:
                    scored, errors, n = window.popleft().result()
                    scored.to_csv(scored_handle, header=False, index=False, lineterminator="\n")
                    errors.to_csv(err_handle, header=False, index=False, lineterminator="\n")
                    summary.rows_read += n
                    summary.scored += len(scored)
                    summary.rejected += n - len(scored)
                    summary.tally(scored)
                    if progress:
                        progress(n)

                for part, first_row in zip(parts, offsets):
                    task = dask.delayed(_score_partition)(
                        part,
                        first_row,
                        str(registry_root),
                        version,
                        landmark,
                        tuple(unknown),
                        mapping,
                        columns,
                    )
                    window.append(client.compute(task))
                    if len(window) >= 4:  # bounded: results are written as they arrive in order
                        drain_one()
                while window:
                    drain_one()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{source} could not be read: {exc}") from exc
    finally:
        if cluster is not None:
            cluster.close()
    summary.seconds = time.perf_counter() - start
    return summary
