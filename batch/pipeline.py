"""Chunks through a job on a thread beside the reading and writing, results in input order.

The ONNX run and pandas' CSV tokenizer release the GIL, so while one chunk is scored the
one before it is written and the one after it read: the second core does work. At most two
chunks are in flight (plus the one being written), so memory stays bounded whatever the
file's size. (Worker processes were tried: on two shared cores their start-up and the
pickling of chunks cost more than they gained.)
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

IN_FLIGHT = 2


def run_in_order(job: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
    """`job(*task)` for each task on one worker thread, yielded in the order of `tasks`;
    `tasks` is consumed lazily (a task is taken only when fewer than IN_FLIGHT are
    submitted and not yet yielded)."""
    window: deque = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk") as executor:
        try:
            for task in tasks:
                window.append(executor.submit(job, *task))
                if len(window) >= IN_FLIGHT:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:  # stopped early (an error, the caller gave up): drop what has not started
            for future in window:
                future.cancel()
