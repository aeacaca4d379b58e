"""Stages of the long jobs (`train --cohort`, `retrain`, `validate`, `recalibrate`): a
progress bar per stage on a terminal, a line per stage otherwise, and at the end what took
the time. The jobs take a `Stages` from their caller and are silent without one."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class Stages:
    """Named, timed stages of one job.

    Parameters
    ----------
    job : str
        What the lines are prefixed with (the command's name).
    stream : file, default sys.stderr
        Where lines go (never stdout, which carries results).
    bars : bool or None
        Progress bars inside stages (tqdm); None: when `stream` is a terminal.
    quiet : bool
        Nothing printed (the timings are still kept).
    """

    def __init__(self, job: str, stream=None, bars: bool | None = None, quiet: bool = False):
        self.job, self.stream, self.quiet = job, stream or sys.stderr, quiet
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bars = (terminal if bars is None else bars) and not quiet
        self.timings: list[tuple[str, float]] = []
        self._start = time.perf_counter()

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"{self.job}: {text}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str):
        """Time a stage; off a terminal, say when it starts and how long it took."""
        if not self.bars:
            self._say(f"{name} ...")
        start = time.perf_counter()
        try:
            yield self
        finally:
            took = time.perf_counter() - start
            self.timings.append((name, took))
            if not self.bars:
                self._say(f"{name} done in {took:.1f} s")

    def summary(self) -> str:
        """The whole job's time and its longest stages."""
        total = time.perf_counter() - self._start
        top = sorted(self.timings, key=lambda kv: -kv[1])[:4]
        parts = ", ".join(
            f"{name} {took:.1f} s ({100 * took / max(total, 1e-9):.0f}%)" for name, took in top
        )
        return f"{total:.1f} s in all; longest: {parts}" if parts else f"{total:.1f} s in all"

    def finish(self) -> None:
        self._say(self.summary())
