"""Responses routes: `POST /v1/responses`, `GET`/`DELETE /v1/responses/{id}`, `GET …/{id}/input_items`.

Thin, as the chat route: parse, check, build the conversation, and `respond`. The renderer stores the
final response when the request asked for `store` (OpenAI's default).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ....core.errors import InvalidRequest
from ....serving.body import json_body, read_json_object, validate_as
from ....serving.pipeline import respond
from ....serving.state import config_of, engine_of
from ..checks import check_model
from .items import Item, parse_input, to_messages
from .render import Draft, ResponsesRenderer
from .schemas import (
    ResponsesRequest,
    echo_text,
    echo_tool_choice,
    function_tools,
    refuse_unsupported,
    to_generation_request,
    wire_param,
)
from .store import StoredResponse, store_of

router = APIRouter(prefix="/responses")


@router.post("", openapi_extra=json_body(ResponsesRequest))
async def create_response(request: Request) -> Response:
    body = validate_as(ResponsesRequest, await read_json_object(request))
    refuse_unsupported(body)
    tools = function_tools(body)
    check_model(engine_of(request), body.model, param="model")
    store = store_of(request)
    history: tuple[Item, ...] = ()
    if body.previous_response_id is not None:
        history = store.get(body.previous_response_id, param="previous_response_id").conversation
    context = (*history, *parse_input(body.input))
    generation = to_generation_request(
        body, tools, to_messages(context), default_max_tokens=config_of(request).default_max_tokens
    )
    draft = Draft(model=body.model, settings=_echo(body, [t.echo() for t in tools]))

    def keep(response: dict[str, Any]) -> None:
        store.put(draft.id, StoredResponse(response, context))

    renderer = ResponsesRenderer(draft, on_final=keep if body.store else lambda _response: None)
    try:
        return await respond(request, generation, renderer, stream=body.stream)
    except InvalidRequest as exc:  # raised before any answer: the engine's check of the request
        exc.param = wire_param(exc.param)
        raise


def _echo(body: ResponsesRequest, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's settings as every response object repeats them."""
    return {
        "instructions": body.instructions,
        "tools": tools,
        "tool_choice": echo_tool_choice(body.tool_choice),
        "parallel_tool_calls": body.parallel_tool_calls,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "max_output_tokens": body.max_output_tokens,
        "previous_response_id": body.previous_response_id,
        "text": echo_text(body.text),
        "metadata": body.metadata or {},
        "user": body.user,
        "store": body.store,
        "background": False,
        "truncation": "disabled",
        "reasoning": {"effort": body.reasoning.effort, "summary": body.reasoning.summary}
        if body.reasoning is not None
        else None,
    }


@router.get("/{response_id}")
async def get_response(request: Request, response_id: str) -> JSONResponse:
    return JSONResponse(store_of(request).get(response_id).response)


@router.delete("/{response_id}")
async def delete_response(request: Request, response_id: str) -> JSONResponse:
    store_of(request).delete(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/{response_id}/input_items")
async def list_input_items(request: Request, response_id: str) -> JSONResponse:
    # Query parameters read here, not by FastAPI, so a bad one is OpenAI's 400, not FastAPI's 422.
    query = request.query_params
    order, after, limit = query.get("order", "desc"), query.get("after"), query.get("limit", "20")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"order must be 'asc' or 'desc', got '{order}'", param="order")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InvalidRequest(f"limit must be an integer from 1 to 100, got '{limit}'", param="limit")
    size = int(limit)
    items = list(store_of(request).get(response_id).context)
    if order == "desc":  # OpenAI's default: newest first
        items.reverse()
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise InvalidRequest(f"no input item '{after}' in response '{response_id}'", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:size]
    return JSONResponse({
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > size,
    })  # fmt: skip
