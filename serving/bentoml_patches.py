"""One correction to BentoML 1.4, applied when the service module is imported.

BentoML's TimeoutMiddleware schedules a timer per request (`loop.call_later(timeout, ...)`)
and never cancels it. The timer handle holds the request's contextvars Context (with its
OpenTelemetry span, locks and attribute lists) until it fires, so the worker keeps every
request of the last `traffic.timeout` seconds alive: about 100 MiB at 500 requests/s with a
30 s timeout, without bound as the timeout grows. Measured with `benchmarks/soak.py`; the
load test (`tests/serving/test_load.py`) fails without this.

The replacement is the same middleware with its timer cancelled once the request is done.
BentoML builds its middleware list in each worker, importing the class from the module at
that moment, so replacing the module attribute is enough.
"""

from __future__ import annotations

import asyncio

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse

_Original = traffic.TimeoutMiddleware


class TimeoutMiddleware(_Original):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, _send))
        try:
            await asyncio.wait((waiter, task), return_when=asyncio.FIRST_COMPLETED)
            timed_out = waiter.done() and not waiter.cancelled() and waiter.exception() is not None
            if timed_out:  # no response started within the timeout
                if task.cancel():
                    await JSONResponse(
                        {"error": f"Not able to process the request in {self.timeout} seconds"},
                        status_code=504,
                    )(scope, receive, send)
                return
            await task
        finally:
            timer.cancel()  # the fix: release the handle, and the request it holds
            if not waiter.done():
                waiter.cancel()


def apply() -> None:
    traffic.TimeoutMiddleware = TimeoutMiddleware
