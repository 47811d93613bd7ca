"""Reading a JSON request body, the one way every route does: as typed errors, never a 500.

The rules, in the order they are checked (README "Limits"):
  - the body is read within `body_timeout_s` (408 beyond) and is at most `max_body_bytes` (413 beyond,
    checked against Content-Length before reading and while reading);
  - it is valid UTF-8 (strict: no encoded surrogates, no other encoding guessed);
  - arrays and objects nest at most `MAX_JSON_DEPTH` deep — measured on the bytes *before* parsing,
    without recursion, so nothing recursive (the parser, pydantic, a template) ever sees a deeper value;
  - it is JSON with finite numbers (no NaN/Infinity, no 1e999), integers of at most 4300 digits
    (Python's own limit), and no lone surrogate escape (`"\\ud800"` is not a character);
  - its top level is an object.

Depth is measured by `core.jsondepth.json_depth` (bytes methods and numpy: linear and in C). Measured on 16 MiB bodies it costs about
what `json.loads` itself costs on the same bytes, or less (the pathological shapes are a million
short strings or a million shallow objects). Catching `RecursionError` from the parser alone would
leave depths from 64 to ~1000 reaching pydantic and the templates; walking the parsed value in Python
was 2-3x slower than parsing for wide arrays.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..core.errors import InvalidRequest, RequestTimeout, RequestTooLarge, param_path
from ..core.jsondepth import MAX_JSON_DEPTH, json_depth
from .state import config_of

BaseModelT = TypeVar("BaseModelT", bound=BaseModel)

# A surrogate written as an escape; only such escapes can make a lone surrogate (the bytes are UTF-8).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(data: bytes) -> Any:
    """`data` as JSON under the rules above; `InvalidRequest` for every way it can fail them."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid UTF-8 (byte {exc.start})") from None
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequest(
            f"the request body nests arrays and objects {depth} deep; at most {MAX_JSON_DEPTH} levels are allowed"
        )
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an out-of-range number; depth was checked above
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(data):
        # Pairs are fine; a lone half is not text. Encoding finds it exactly (escaped backslashes
        # followed by "ud800" are not escapes, which a pattern on the bytes cannot tell).
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(
                "the request body holds a lone surrogate escape (e.g. \"\\ud800\"): not valid Unicode text"
            ) from None
    return value


async def _read(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"request body is larger than the {limit}-byte limit")
    return bytes(body)


async def read_json_object(request: Request) -> dict[str, Any]:
    config = config_of(request)
    limit = config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body is larger than the {limit}-byte limit")
    try:
        body = await asyncio.wait_for(_read(request, limit), config.body_timeout_s)
    except asyncio.TimeoutError:
        raise RequestTimeout(
            f"the request body was not received within {config.body_timeout_s:g} seconds"
        ) from None
    if not body.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object")
    value = parse_json(body)
    if not isinstance(value, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {type(value).__name__}")
    return value


def validate_as(model: type[BaseModelT], data: dict[str, Any]) -> BaseModelT:
    """Validate `data`, turning pydantic's error into one `InvalidRequest` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = param_path([p for p in first["loc"] if not str(p).startswith("function-")]) or None
        message = first["msg"]
        raise InvalidRequest(f"{param}: {message}" if param else message, param=param) from None


# --- the bodies in the OpenAPI document -----------------------------------------------------------
# Routes read their bodies themselves (above), so FastAPI does not know their shape. Each route names
# its model with `json_body`, and `with_body_schemas` completes the generated document, so the OpenAPI
# document at /openapi.json describes every body for client generators and fuzzers (schemathesis),
# while parsing stays bounded and errors stay in each protocol's shape.
_BODY_DEFS = "x-lazarus-body-schemas"  # the model's own `$defs`, moved into components by the app


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is `model` (read with `read_json_object`, then
    `validate_as`). Schema names are prefixed with the model's protocol module (`openai_Tool`,
    `anthropic_Tool`): each protocol has models of the same name."""
    prefix = "_".join(model.__module__.split(".")[2:-1]) or "lazarus"
    template = f"#/components/schemas/{prefix}_{{model}}"
    schema = model.model_json_schema(ref_template=template)
    defs = {f"{prefix}_{name}": value for name, value in schema.pop("$defs", {}).items()}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}, _BODY_DEFS: defs}


def with_body_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """The generated OpenAPI `document` with each route's body models under `components.schemas`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                schemas.update(operation.pop(_BODY_DEFS, {}))
    return document

