"""OpenAI legacy completions (`POST /v1/completions`) request schema, and its conversion into one
`GenerationRequest` per prompt.

The prompt is sent to the model as it is: no chat template. Text gets the BOS the model wants; token
ids are taken exactly as given. Unknown-field policy as for chat (schemas.py): fields that do not
change the output (`user`) are accepted and ignored; fields we cannot honour (`best_of` above `n`,
`suffix` on a model without fill-in-the-middle tokens) are a 400 naming the field.

`max_tokens` left out means the server's `--max-tokens` (OpenAI's own default is 16, which suits
nothing but tests); `max_tokens: 0` generates nothing, which with `echo` and `logprobs` scores a
text (what evaluation harnesses send).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from pydantic import Field, field_validator

from ...core.errors import InvalidRequest, UnsupportedFeature
from ...core.types import GenerationRequest, ResponseFormat, SamplingParams, stop_strings, unset_sampling
from .schemas import MAX_N, MAX_STOP, ResponseFormatIn, StreamOptions, _logit_bias, _Model, _response_format

# OpenAI's limit for the legacy endpoint's `logprobs`.
MAX_LOGPROBS = 5
# Choices in one request (prompts x n): each is a sequence in the backend's queue.
MAX_CHOICES = 64

class CompletionRequest(_Model):
    model: str
    prompt: str | list[Any]  # checked by `prompts_of`, for errors that name the bad element
    suffix: str | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=MAX_N)
    best_of: int | None = Field(default=None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    echo: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    user: str | None = None
    # llama-server's extensions: output constrained to JSON (any object, or valid against a schema).
    response_format: ResponseFormatIn | None = None
    json_schema: dict[str, Any] | None = None
    grammar: str | None = None  # a GBNF grammar the output must match

    @field_validator("stop")
    @classmethod
    def _stop_limit(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences are allowed, got {len(value)}")
        return value


def prompts_of(prompt: str | list[Any]) -> list[str | tuple[int, ...]]:
    """The request's prompts, each a text or a token list, in the order their choices are numbered:
    a string, a list of strings, a list of token ids, or a list of token-id lists (not mixed)."""
    if isinstance(prompt, str):
        return [prompt]
    if not prompt:
        raise InvalidRequest("prompt must not be an empty list", param="prompt")
    if all(_is_token(p) for p in prompt):
        return [tuple(prompt)]
    if all(isinstance(p, str) for p in prompt):
        return list(prompt)
    if all(isinstance(p, list) for p in prompt):
        for i, item in enumerate(prompt):
            if not item or not all(_is_token(t) for t in item):
                raise InvalidRequest(f"prompt[{i}] must be a non-empty list of token ids", param=f"prompt[{i}]")
        return [tuple(item) for item in prompt]
    raise InvalidRequest(
        "prompt must be a string, a list of strings, a list of token ids or a list of token-id lists",
        param="prompt",
    )


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def to_generation_requests(body: CompletionRequest, *, default_max_tokens: int) -> list[GenerationRequest]:
    """One request per prompt; each has `n` choices, so prompt p's choice j is choice `p * n + j`."""
    if body.best_of is not None and body.best_of != body.n:
        if body.best_of < body.n:
            raise InvalidRequest("best_of must be greater than or equal to n", param="best_of")
        raise UnsupportedFeature(
            "best_of greater than n is not supported: every generated choice is returned (use n)", param="best_of"
        )
    if body.suffix is not None and body.echo:
        raise InvalidRequest("echo cannot be used with suffix", param="echo")
    prompts = prompts_of(body.prompt)
    if len(prompts) * body.n > MAX_CHOICES:
        raise InvalidRequest(
            f"at most {MAX_CHOICES} choices per request (prompts x n), got {len(prompts)} x {body.n}", param="prompt"
        )
    if body.suffix is not None and any(not isinstance(p, str) for p in prompts):
        raise InvalidRequest("suffix needs a text prompt, not token ids", param="suffix")
    wants_echo_logprobs = body.echo and body.logprobs is not None
    base = GenerationRequest(
        max_tokens=default_max_tokens if body.max_tokens is None else body.max_tokens,
        max_tokens_is_default=body.max_tokens is None,
        sampling=SamplingParams(
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            presence_penalty=body.presence_penalty,
            frequency_penalty=body.frequency_penalty,
            logit_bias=_logit_bias(body.logit_bias),
        ),
        sampling_unset=unset_sampling(temperature=body.temperature, top_p=body.top_p),
        stop=stop_strings(body.stop),
        response_format=_format(body),
        grammar=body.grammar,
        logprobs=body.logprobs,
        echo=body.echo,
        prompt_logprobs=body.logprobs if wants_echo_logprobs else None,
        suffix=body.suffix,
        n=body.n,
    )
    return [
        dataclasses.replace(base, prompt=p) if isinstance(p, str) else dataclasses.replace(base, prompt_token_ids=p)
        for p in prompts
    ]


def _format(body: CompletionRequest) -> ResponseFormat:
    if body.json_schema is not None:
        return ResponseFormat("json_schema", body.json_schema)
    return _response_format(body.response_format)
