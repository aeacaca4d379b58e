"""The served OpenAPI document, completed: BentoML documents 200/400/404/500 only and drops
nullability from response models; the guard and the service answer more than that. `amend`
adds what the service really does, so clients (and schemathesis) can hold it to its word."""

from __future__ import annotations

import copy

ERROR_BODY = {
    "type": "object",
    "title": "ErrorBody",
    "required": ["error", "notice"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in one sentence"},
        "errors": {
            "type": "array",
            "description": "one item per invalid field, all at once",
            "items": {"$ref": "#/components/schemas/ItemError"},
        },
        "notice": {"type": "string", "description": "the research-use notice"},
    },
}
ITEM_ERROR = {
    "type": "object",
    "title": "ItemError",
    "required": ["field", "value", "error"],
    "properties": {
        "field": {"type": "string"},
        "value": {"type": "string"},
        "error": {"type": "string"},
    },
}

_COMMON = {
    "400": "the body is not valid JSON (NaN and Infinity included) or the upload is malformed",
    "401": "missing or invalid API key",
    "408": "the request body did not arrive within the body timeout",
    "413": "the body, batch or upload is over its limit",
    "415": "wrong content type",
    "422": "invalid fields (each named) or a wrong body shape",
    "503": "no production model is loaded yet",
}
ROUTES = {
    "/score": {**_COMMON},
    "/score_batch": {**_COMMON},
    "/score_csv": {**_COMMON, "411": "the upload has no Content-Length"},
    "/model": {k: v for k, v in _COMMON.items() if k in ("400", "401", "415", "503")},
}
# Bodies the guard parses: their top level takes exactly the documented field.
CLOSED_BODIES = ("/score", "/score_batch")


def amend(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ERROR_BODY
    schemas.setdefault("ItemError", ITEM_ERROR)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, codes in ROUTES.items():
        operation = spec.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        for code, description in codes.items():
            responses[code] = {
                "description": description,
                "content": {"application/json": {"schema": error_ref}},
            }
        request = operation.get("requestBody", {})
        if path in CLOSED_BODIES:
            request["required"] = True
            request["content"]["application/json"]["schema"]["additionalProperties"] = False
        elif path == "/score_csv":
            request["required"] = True
        elif "application/json" in request.get("content", {}):
            # /model takes no body: an empty object at most
            request["content"]["application/json"]["schema"]["additionalProperties"] = False
        ok = responses.get("200", {}).get("content", {}).get("application/json", {})
        if "schema" in ok:
            _nullable_defaults(ok["schema"])
    for schema in schemas.values():
        _nullable_defaults(schema)
    return spec


def _nullable_defaults(schema: dict) -> None:
    """A property whose default is null may be null (BentoML keeps the default, drops the
    null from the type)."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", "") is None and "type" in prop and "anyOf" not in prop:
            prop["nullable"] = True
