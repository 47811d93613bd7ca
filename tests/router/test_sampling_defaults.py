"""Sampling defaults: every protocol says which sampling fields a request left out, so the engine can
give them the server's flags or the model's own defaults instead of the protocol's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chuk_lazarus.core.types import DEFAULTABLE_SAMPLING, ChatMessage, GenerationRequest, SamplingParams
from chuk_lazarus.engine import ModelEngine
from tests.fakes import MODEL, FakeEngine, make_app

ALL = frozenset(DEFAULTABLE_SAMPLING)


async def sent(path: str, body: dict[str, Any], protocols: tuple[str, ...]) -> GenerationRequest:
    engine = FakeEngine()
    transport = httpx.ASGITransport(app=make_app(engine, protocols=protocols))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return engine.requests[-1]


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("path", "protocols", "body", "unset"),
    [
        ("/v1/chat/completions", ("openai",), CHAT, ALL),
        ("/v1/chat/completions", ("openai",), {**CHAT, "temperature": 0.5}, ALL - {"temperature"}),
        ("/v1/completions", ("openai",), {"model": MODEL, "prompt": "hi", "top_p": 0.5}, ALL - {"top_p"}),
        ("/v1/responses", ("openai",), {"model": MODEL, "input": "hi", "temperature": 0}, ALL - {"temperature"}),
        ("/v1/messages", ("anthropic",), {**CHAT, "max_tokens": 5, "top_k": 3}, ALL - {"top_k"}),
        ("/api/chat", ("ollama",), {**CHAT, "stream": False}, ALL),
        ("/api/chat", ("ollama",), {**CHAT, "stream": False, "options": {"repeat_penalty": 1.2, "min_p": 0.1}},
         ALL - {"repeat_penalty", "min_p"}),
    ],
)  # fmt: skip
async def test_each_protocol_names_what_the_request_left_out(
    path: str, protocols: tuple[str, ...], body: dict[str, Any], unset: frozenset[str]
) -> None:
    assert (await sent(path, body, protocols)).sampling_unset == unset


class _Backend:
    """Just what ModelEngine reads at construction."""

    def __init__(self, own: dict[str, float]) -> None:
        from chuk_lazarus.core.types import ModelInfo

        self.info = ModelInfo(name="m", path="m", backend="none", context_length=64, sampling_defaults=own)
        self.bos_token = self.eos_token = ""


def test_a_flag_beats_the_models_default_and_the_request_beats_both() -> None:
    engine = ModelEngine(_Backend({"temperature": 0.6, "top_k": 20}), sampling_defaults={"temperature": 0.1})  # type: ignore[arg-type]
    request = GenerationRequest(
        messages=(ChatMessage("user", "x"),),
        sampling=SamplingParams(temperature=1.0, top_p=0.5, top_k=0),
        sampling_unset=frozenset({"temperature", "top_k", "min_p"}),
    )
    chosen = engine._sampling_for(request)
    assert (chosen.temperature, chosen.top_k, chosen.top_p, chosen.min_p) == (0.1, 20, 0.5, 0.0)
    # A field the request gave keeps its value whatever the defaults say.
    given = GenerationRequest(messages=request.messages, sampling=SamplingParams(temperature=0.9))
    assert engine._sampling_for(given).temperature == 0.9
