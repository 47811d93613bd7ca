"""`POST /tokenize` and `POST /detokenize` in llama-server's shapes, served with the OpenAI protocol.

They belong here because llama-server, whose shapes these are, serves them beside its OpenAI API
and answers their errors in OpenAI's envelope; the clients that use them (token counters, eval
harnesses, llama.cpp's own tools) are OpenAI-API clients. Like every route, behind the API key.

- `{"content": str, "add_special": bool, "with_pieces": bool}` -> `{"tokens": [id, …]}`, or with
  pieces `{"tokens": [{"id": id, "piece": str}]}` (the piece as a list of byte values when it is not
  valid UTF-8 on its own, as llama-server does);
- `{"messages": [...], "tools": [...], "add_generation_prompt": true}` (our extension): the tokens of
  the chat as `/v1/chat/completions` renders it (its `prompt_tokens` is their count);
- `{"tokens": [id, …]}` -> `{"content": str}` (special tokens written out).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from ...core.errors import InvalidRequest
from ...serving.body import json_body, read_json_object, validate_as
from ...serving.state import engine_of
from .schemas import ChatCompletionRequest, Message, Tool, _Model, to_generation_request

router = APIRouter()


class TokenizeRequest(_Model):
    content: str | None = None
    add_special: bool = False
    with_pieces: bool = False
    messages: list[Message] | None = Field(default=None, min_length=1)
    tools: list[Tool] | None = None
    add_generation_prompt: bool = True


class DetokenizeRequest(_Model):
    tokens: list[int]


@router.post("/tokenize", openapi_extra=json_body(TokenizeRequest))
async def tokenize(request: Request) -> JSONResponse:
    engine = engine_of(request)
    body = validate_as(TokenizeRequest, await read_json_object(request))
    if (body.content is None) == (body.messages is None):
        raise InvalidRequest("send either `content` (a text) or `messages` (a chat)", param="content")
    if body.messages is not None:
        chat = ChatCompletionRequest(model=engine.model_name, messages=body.messages, tools=body.tools)
        generation = to_generation_request(chat, default_max_tokens=1)
        tokens = await engine.prompt_token_ids(
            dataclasses.replace(generation, add_generation_prompt=body.add_generation_prompt)
        )
    else:
        tokens = await engine.tokenize(body.content or "", add_special=body.add_special)
    if not body.with_pieces:
        return JSONResponse({"tokens": tokens})
    pieces = engine.token_pieces(tokens)
    return JSONResponse({"tokens": [{"id": t, "piece": _piece(p)} for t, p in zip(tokens, pieces)]})


@router.post("/detokenize", openapi_extra=json_body(DetokenizeRequest))
async def detokenize(request: Request) -> JSONResponse:
    body = validate_as(DetokenizeRequest, await read_json_object(request))
    return JSONResponse({"content": await engine_of(request).detokenize(body.tokens)})


def _piece(data: bytes) -> Any:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return list(data)
