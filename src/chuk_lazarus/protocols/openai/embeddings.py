"""OpenAI `POST /v1/embeddings`: schema, conversion to an `EmbeddingRequest`, and the response body.

`input` is a string, a list of strings, a token list or a list of token lists, as OpenAI takes it.
`encoding_format` "base64" is the little-endian float32 bytes of each vector, base64-encoded — what the
openai SDK asks for by default and decodes. `dimensions` is accepted only when it equals the model's
own size (a plain model cannot be shortened). `user` is accepted and ignored. Empty input is a 400.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import JSONResponse

from ...core.embedding import EmbeddingInput, EmbeddingRequest, EmbeddingResult
from ...core.errors import InvalidRequest, ModelNotFound
from ...serving.body import json_body, read_json_object, validate_as
from ...serving.request_context import note_model
from ...serving.state import engine_of

MAX_INPUTS = 2048  # OpenAI's own limit on inputs per request

router = APIRouter()


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @field_validator("input", mode="wrap")
    @classmethod
    def _one_message(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:  # pydantic lists every union member's complaint; say what is allowed
            raise PydanticCustomError(
                "embedding_input",
                "input must be a string, a list of strings, a list of token ids or a list of token-id lists",
            ) from None


def to_embedding_request(body: EmbeddingsRequest) -> EmbeddingRequest:
    raw = body.input
    items: list[EmbeddingInput] = []
    if isinstance(raw, str):
        items = [raw]
    elif raw and all(isinstance(x, int) for x in raw):
        items = [tuple(x for x in raw if isinstance(x, int))]  # one token list
    else:
        for x in raw:
            items.append(x if isinstance(x, str) else tuple(x) if isinstance(x, list) else (x,))
    if not items:
        raise InvalidRequest("input must not be empty", param="input")
    if len(items) > MAX_INPUTS:
        raise InvalidRequest(f"input has {len(items)} items; at most {MAX_INPUTS} are allowed", param="input")
    return EmbeddingRequest(inputs=tuple(items), truncate=False, dimensions=body.dimensions)


def encode(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def render(result: EmbeddingResult, *, model: str, encoding_format: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(v, encoding_format)}
            for i, v in enumerate(result.vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }


@router.post("/embeddings", openapi_extra=json_body(EmbeddingsRequest))
async def embeddings(request: Request) -> JSONResponse:
    body = validate_as(EmbeddingsRequest, await read_json_object(request))
    note_model(body.model)
    engine = engine_of(request)
    if not engine.serves(body.model):
        raise ModelNotFound(
            f"The model '{body.model}' does not exist; this server serves '{engine.model_name}'", param="model"
        )
    result = await engine.embed(to_embedding_request(body))
    return JSONResponse(render(result, model=body.model, encoding_format=body.encoding_format))
