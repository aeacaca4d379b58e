"""ASGI guard in front of every route: auth, body limits, JSON shape, notice, safe logging.

BentoML logs pydantic tracebacks (with input values) and raw bodies on malformed JSON; this
guard answers those cases itself, before BentoML sees them, so no patient value is logged and
no malformed input reaches a 5xx. It logs method, path, status and latency only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import warnings

from features.schema import RESEARCH_USE_NOTICE
from features.text import escape
from serving.openapi import amend

logger = logging.getLogger("relapse_risk.access")

# /schema.json is what BentoML's clients read first; like /docs.json it holds no data.
OPEN_PATHS = {
    "/livez",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs.json",
    "/schema.json",
    "/docs",
    "/",
    "/app",
    "/favicon.ico",
}
# The calculator page and its assets carry no data; it asks for the key itself.
OPEN_PREFIXES = ("/docs", "/app/")
JSON_SHAPES = {"/score": ("patient", dict), "/score_batch": ("patients", list)}
PARSED_KEY = "relapse_risk_json"
TIMED_OUT_KEY = "relapse_risk_body_timed_out"
STREAMED_PATHS = {"/score_csv"}

NOTICE_HEADER = (b"x-research-use", RESEARCH_USE_NOTICE.encode())


def _body(status: int, payload: dict) -> tuple[int, bytes]:
    return status, json.dumps({**payload, "notice": RESEARCH_USE_NOTICE}).encode()


class Guard:
    """ASGI middleware.

    Parameters
    ----------
    app : ASGI app
    settings_loader : callable returning serving.config.Settings (read once, lazily)
    """

    def __init__(self, app, settings_loader):
        self.app = app
        self._settings_loader = settings_loader
        self._settings = None
        self._spec: bytes | None = None

    @property
    def settings(self):
        if self._settings is None:
            with warnings.catch_warnings():  # the service logs them once, at start-up
                warnings.simplefilter("ignore")
                self._settings = self._settings_loader()
        return self._settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        status_seen = {"status": 0}

        async def send_with_notice(message):
            if message["type"] == "http.response.start":
                status_seen["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append(NOTICE_HEADER)
                message = {**message, "headers": headers}
            await send(message)

        try:
            rejection = None
            if path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
                rejection = self._check_auth(scope)
            replay = None
            if rejection is None and scope.get("method") == "POST":
                timed = self._with_deadline(scope, receive)
                if path in STREAMED_PATHS:
                    rejection = self._limit_stream(scope)
                    replay = timed
                else:
                    rejection, replay = await self._read_body(scope, timed, path)
            if rejection is not None:
                await self._respond(send_with_notice, *rejection)
            elif path == "/docs.json" and scope.get("method") == "GET":
                await self._spec_response(scope, receive, send_with_notice)
            else:
                await self.app(scope, replay or receive, send_with_notice)
        finally:
            # The path is the client's text (%0A decodes to a newline): escaped, so it cannot
            # forge a log line or carry a NUL into the log.
            logger.info(
                "%s %s %s %.1fms",
                escape(scope.get("method", ""), 16),
                escape(path),
                status_seen["status"],
                (time.perf_counter() - start) * 1000,
            )

    def _check_auth(self, scope):
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        ok = False
        for key in self.settings.api_keys:  # compare with every key: constant time per key
            ok |= hmac.compare_digest(token.encode(), key.encode())
        if scheme.lower() != "bearer" or not ok:
            return _body(
                401, {"error": "missing or invalid API key; send 'Authorization: Bearer <key>'"}
            )
        return None

    def _with_deadline(self, scope, receive):
        """`receive` that gives up once the body has not fully arrived within the body
        timeout: a slow upload then reads as a disconnect (and scope state says why), so it
        holds neither a worker nor memory for longer. After the last body chunk, `receive`
        is passed through untouched (Starlette listens on it for real disconnects)."""
        timeout = self.settings.body_timeout_seconds
        deadline = asyncio.get_running_loop().time() + timeout
        done = False

        async def timed_receive():
            nonlocal done
            if done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # a timer, not a task per call
                    message = await receive()
            except TimeoutError:
                scope.setdefault("state", {})[TIMED_OUT_KEY] = timeout
                done = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        return timed_receive

    def _limit_stream(self, scope):
        """Uploads stream through (BentoML spools them to disk) once their declared size is
        within the limit; the HTTP server holds the body to that declared length."""
        limit = self.settings.max_csv_bytes
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").lower()
        if not (content_type.startswith(b"multipart/form-data") and b"boundary=" in content_type):
            return _body(415, {"error": "upload the CSV as multipart/form-data (field 'file')"})
        declared = headers.get(b"content-length")
        if declared is None or not declared.isdigit():
            return _body(411, {"error": "send the upload with a Content-Length header"})
        if int(declared) > limit:
            return _body(413, {"error": f"upload larger than {limit} bytes"})
        return None

    async def _read_body(self, scope, receive, path):
        limit = self.settings.max_body_bytes
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _body(413, {"error": f"request body larger than {limit} bytes"}), None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if TIMED_OUT_KEY in scope.get("state", {}):
                    return _body(
                        408, {"error": body_timeout_message(self.settings.body_timeout_seconds)}
                    ), None
                return _body(400, {"error": "client disconnected"}), None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return _body(413, {"error": f"request body larger than {limit} bytes"}), None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type not in (b"application/json", b"") and (body or path in JSON_SHAPES):
            return _body(415, {"error": "send the body as application/json"}), None
        if path not in JSON_SHAPES and body.strip() not in (b"", b"{}"):
            return _body(400, {"error": "this route takes no request body"}), None
        if path in JSON_SHAPES:
            rejection, data = self._check_json(body, headers, path)
            if rejection is not None:
                return rejection, None
            # Parsed once here; the service's input spec reads it instead of parsing again.
            scope.setdefault("state", {})[PARSED_KEY] = data
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay

    def _check_json(self, body: bytes, headers: dict, path: str):
        content_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip()
        if content_type not in (b"application/json", b""):
            return _body(415, {"error": "send the body as application/json"}), None
        try:
            data = _DECODER.decode(body.decode("utf-8"))
        except UnicodeDecodeError:
            return _body(400, {"error": "the body is not valid JSON: it is not UTF-8 text"}), None
        except ValueError as exc:
            return _body(400, {"error": f"the body is not valid JSON: {_position(exc)}"}), None
        except RecursionError:
            return _body(
                400,
                {
                    "error": "the body is nested too deeply to be a patient or a "
                    "batch (arrays or objects about a thousand levels "
                    "deep)"
                },
            ), None
        key, kind = JSON_SHAPES[path]
        if not isinstance(data, dict) or set(data) != {key}:
            return _body(
                422,
                {"error": f"the body must be a JSON object with one field, '{key}'", "errors": []},
            ), None
        if not isinstance(data[key], kind):
            what = "an object" if kind is dict else "an array"
            return _body(422, {"error": f"'{key}' must be {what}", "errors": []}), None
        if kind is list:
            limit = self.settings.max_batch
            if len(data[key]) > limit:
                return _body(
                    413,
                    {"error": f"at most {limit} patients per batch request; got {len(data[key])}"},
                ), None
        return None, data

    async def _spec_response(self, scope, receive, send):
        """BentoML's OpenAPI document, completed by serving.openapi.amend (built once)."""
        if self._spec is None:
            messages = []

            async def capture(message):
                messages.append(message)

            await self.app(scope, receive, capture)
            start = messages[0] if messages else {"status": 500}
            body = b"".join(m.get("body", b"") for m in messages[1:])
            if start["status"] != 200:
                await self._respond(send, start["status"], body)
                return
            self._spec = json.dumps(amend(json.loads(body))).encode()
        await self._respond(send, 200, self._spec)

    @staticmethod
    async def _respond(send, status: int, body: bytes):
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def body_timeout_message(seconds: float) -> str:
    return f"the request body did not arrive within {seconds:g} seconds"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (NaN and Infinity are not allowed)")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # built once, not per request


def _position(exc: ValueError) -> str:
    # json.JSONDecodeError names line and column, never the content.
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return str(exc)
