"""The corrected BentoML TimeoutMiddleware: same answers, and no timer left holding a
finished request."""

import asyncio

from bentoml._internal.server.http import traffic

from serving import bentoml_patches


def _run(app, timeout):
    middleware = bentoml_patches.TimeoutMiddleware(app, timeout=timeout)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def main():
        await middleware({"type": "http", "path": "/", "headers": []}, receive, send)
        await asyncio.sleep(0)  # let a cancelled handler unwind
        loop = asyncio.get_running_loop()
        # Timers still due (not cancelled) after the request finished:
        return [h for h in loop._scheduled if not h.cancelled()]

    live = asyncio.run(main())
    return sent, live


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _slow(scope, receive, send):
    await asyncio.sleep(5)
    await _ok(scope, receive, send)


def test_a_finished_request_leaves_no_timer_behind():
    sent, live = _run(_ok, timeout=600)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"
    assert live == []


def test_a_request_over_the_timeout_still_gets_504():
    sent, live = _run(_slow, timeout=0.2)
    assert sent[0]["status"] == 504 and b"0.2 seconds" in sent[1]["body"]
    assert live == []


def test_errors_are_raised_at_once_not_after_the_timeout():
    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    try:
        _run(broken, timeout=600)
    except RuntimeError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the error was swallowed")


def test_apply_replaces_bentomls_class():
    bentoml_patches.apply()
    assert traffic.TimeoutMiddleware is bentoml_patches.TimeoutMiddleware
