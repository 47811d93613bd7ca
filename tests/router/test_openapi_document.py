"""The server's OpenAPI document describes every body a route reads (serving/body.py `json_body`), so
client generators and fuzzers (bench/fuzz_openapi.py runs schemathesis on it) know each route's shape.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.fakes import MODEL, FakeEngine, make_app

ALL = ("openai", "ollama", "anthropic")
# Each route that reads a JSON body, and a body its protocol accepts.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/chat/completions"): {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    ("post", "/v1/completions"): {"model": MODEL, "prompt": "hi"},
    ("post", "/v1/responses"): {"model": MODEL, "input": "hi"},
    ("post", "/v1/embeddings"): {"model": MODEL, "input": "hi"},
    ("post", "/tokenize"): {"content": "hi"},
    ("post", "/detokenize"): {"tokens": [1, 2]},
    ("post", "/v1/messages"): {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    ("post", "/v1/messages/count_tokens"): {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    ("post", "/api/chat"): {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    ("post", "/api/generate"): {"model": MODEL, "prompt": "hi"},
    ("post", "/api/embed"): {"model": MODEL, "input": "hi"},
    ("post", "/api/embeddings"): {"model": MODEL, "prompt": "hi"},
    ("post", "/api/show"): {"model": MODEL},
    ("post", "/api/pull"): {"model": MODEL},
    ("post", "/api/push"): {"model": MODEL},
    ("post", "/api/copy"): {"source": MODEL, "destination": "other"},
    ("delete", "/api/delete"): {"model": MODEL},
}


async def document() -> dict[str, Any]:
    app = make_app(FakeEngine([]), ALL)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """`schema` with its `#/components/schemas/...` references resolved: the components ride along in
    the schema's own root, where such a pointer looks."""
    return Draft202012Validator({**schema, "components": doc["components"]})


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")
async def test_every_body_route_documents_its_body_and_accepts_a_real_one() -> None:
    doc = await document()
    documented = {
        (method, path)
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert documented == set(BODIES)
    for (method, path), body in BODIES.items():
        schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        check = validator(doc, schema)
        assert not list(check.iter_errors(body)), (path, [e.message for e in check.iter_errors(body)])
        assert list(check.iter_errors([body])), path  # the schema is not `{}`: it can refuse


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")
async def test_protocols_models_of_one_name_stay_apart() -> None:
    names = set((await document())["components"]["schemas"])
    # Each protocol has a `Tool`; each keeps its own, named after its module.
    assert {"openai_Tool", "anthropic_Tool"} <= names
    assert "x-lazarus-body-schemas" not in str(names)
