"""Reading a JSON request body: size limit, JSON syntax, object shape — as typed errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..core.errors import InvalidRequest, RequestTooLarge, param_path
from .state import config_of

BaseModelT = TypeVar("BaseModelT", bound=BaseModel)


async def read_json_object(request: Request) -> dict[str, Any]:
    limit = config_of(request).max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body is larger than the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"request body is larger than the {limit}-byte limit")
    if not body.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object")
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
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

