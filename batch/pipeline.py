"""Chunks through a job beside the reading and writing, results in input order.

With one worker the job runs on a thread: the ONNX run and pandas' CSV tokenizer release
the GIL, so while one chunk is scored the one before it is written and the one after it
read. With more, in that many forked worker processes (validation and formatting are
Python, held by the GIL on one thread): each inherits the job, chunks go to them pickled and
their rows come back as CSV text. At most `workers + 1` chunks are in flight, so memory stays
bounded whatever the file's size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

_JOB: Callable | None = None  # the job forked workers inherit


def _run(*args) -> Any:
    return _JOB(*args)


def _one_thread() -> None:
    """A worker per CPU runs one BLAS and OpenMP thread each: more would spin against the
    other workers (as Dask's workers are set up too)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def default_workers() -> int:
    """The CPUs this process may use (the command line's default)."""
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def _executor(job: Callable, workers: int) -> tuple[Executor, Callable]:
    global _JOB
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk"), job
    # Forked, so that the job (a loaded model) is not rebuilt or pickled per worker; the
    # caller must not be running other threads (the command line does not; the service
    # uses one worker, a thread).
    _JOB = job
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_one_thread,
    ), _run


def run_in_order(job: Callable, tasks: Iterable[tuple], workers: int = 1) -> Iterator[Any]:
    """`job(*task)` for each task, yielded in the order of `tasks` (consumed lazily: a task
    is taken only when at most `workers` are submitted and not yet yielded)."""
    executor, call = _executor(job, workers)
    window: deque = deque()
    with executor:
        try:
            for task in tasks:
                window.append(executor.submit(call, *task))
                if len(window) > max(workers, 1):
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:  # stopped early (an error, the caller gave up): drop what has not started
            for future in window:
                future.cancel()
