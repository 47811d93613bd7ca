"""LangChain's `ChatOllama` against a real `lazarus serve --protocols ollama` (embedded model)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from tests.conftest import Serve
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

langchain_ollama = pytest.importorskip("langchain_ollama")


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    process = serve("--protocols", "ollama", "--parallel", "2")
    yield process
    process.stop()


def chat_model(server: LazarusProcess, name: str, num_predict: int) -> object:
    return langchain_ollama.ChatOllama(
        model=name, base_url=server.base_url, temperature=0, num_predict=num_predict, validate_model_on_init=True
    )


def test_invoke_and_stream(server: LazarusProcess, embedded_model_name: str) -> None:
    llm = chat_model(server, embedded_model_name, 12)
    answer = llm.invoke("What is the capital of France?")  # type: ignore[attr-defined]
    assert isinstance(answer, AIMessage) and "Paris" in str(answer.content)
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] > 0
    assert answer.response_metadata.get("done_reason") in ("stop", "length")

    chunks = list(llm.stream("What is the capital of France?"))  # type: ignore[attr-defined]
    assert len(chunks) > 2 and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks)


def test_unknown_model_is_caught_at_init(server: LazarusProcess) -> None:
    with pytest.raises(ValueError, match="not found"):
        chat_model(server, "llama3.2", 4)


@tool
def add(a: int, b: int) -> int:
    """Add two integers a and b."""
    return a + b


def test_bind_tools_and_answer_with_the_result(server: LazarusProcess, embedded_model_name: str) -> None:
    llm = chat_model(server, embedded_model_name, 40).bind_tools([add])  # type: ignore[attr-defined]
    question = HumanMessage("Add 2 and 3.")
    reply = llm.invoke([question])
    assert reply.tool_calls, f"expected a tool call, got {reply.content!r}"
    call = reply.tool_calls[0]
    assert call["name"] == "add" and isinstance(call["args"], dict)
    result = add.invoke(call["args"])
    final = llm.invoke([question, reply, ToolMessage(str(result), tool_call_id=call["id"])])
    assert isinstance(final, AIMessage)


class City(BaseModel):
    name: str
    country: str


def test_with_structured_output(server: LazarusProcess, embedded_model_name: str) -> None:
    llm = chat_model(server, embedded_model_name, 40).with_structured_output(City)  # type: ignore[attr-defined]
    city = llm.invoke("Paris is a city in France. Give its name and country.")
    assert isinstance(city, City) and city.name
