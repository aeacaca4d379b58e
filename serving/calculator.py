"""The web calculator: one page, served by the same BentoML service under /app.

The form is built in the browser from the feature schema embedded in the page at start-up
(never re-typed in HTML); the page calls the service's own /model and /score and nothing else.
"""

from __future__ import annotations

import json
from importlib import resources

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from features import pcpi
from features.salvage import load_salvage
from features.schema import FIELDS, LANDMARKS, PROGRESSION, RESEARCH_USE_NOTICE

# Everything the page loads comes from this service; the browser enforces it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def page_schema() -> dict:
    """The fields the form shows, straight from `features.schema`."""
    fields = [
        {
            "name": f.name,
            "kind": f.kind,
            "role": f.role,
            "description": f.description,
            "unit": f.unit,
            "minimum": f.minimum,
            "maximum": f.maximum,
            "categories": list(f.categories),
            "landmark": f.landmark,
            "valid": f.describe_range(),
        }
        for f in FIELDS
        if f.role != "outcome"
    ]
    return {
        "fields": fields,
        "landmarks": list(LANDMARKS),
        "progression": PROGRESSION,
        "notice": RESEARCH_USE_NOTICE,
        "salvage": load_salvage(),
        "pcpi": {
            "factors": [{"name": n, "rule": r} for n, r, _ in pcpi.FACTORS],
            "assumption": pcpi.ASSUMPTION,
        },
    }


def _read(name: str) -> bytes:
    return resources.files("serving").joinpath("static", name).read_bytes()


def build_app() -> Starlette:
    """A Starlette app with the page and its two assets, read once."""
    # "</" cannot close the script element the schema sits in once "/" is escaped.
    schema = json.dumps(page_schema()).replace("</", "<\\/")
    page = _read("calculator.html").decode().replace("__SCHEMA_JSON__", schema).encode()
    assets = {name: _read(name) for name in ASSETS}
    headers = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
    }

    async def index(request):
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    async def asset(request):
        name = request.path_params["name"]
        if name not in assets:
            return Response(b"not found", status_code=404, media_type="text/plain")
        return Response(assets[name], media_type=ASSETS[name], headers=headers)

    return Starlette(routes=[Route("/", index), Route("/{name}", asset)])
