"""One `/v1/models` for two SDKs: the `anthropic` and `openai` clients each get their own shape from the
same `lazarus serve --protocols openai,anthropic --api-key …` (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.conftest import API_KEY, Serve
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

NAME = "lazarus-test/smollm2"  # a served name with a slash, as Hub ids have


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    process = serve("--protocols", "openai,anthropic", "--api-key", API_KEY, "--parallel", "1",
                    "--served-model-name", NAME)  # fmt: skip
    yield process
    process.stop()


def test_anthropic_sdk_lists_and_retrieves_models_with_every_field(server: LazarusProcess) -> None:
    client = anthropic.Anthropic(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    page = client.models.list()
    assert page.data and page.data[0].id == NAME
    for model in page.data:
        assert model.type == "model" and model.display_name == model.id and model.created_at is not None
    assert page.has_more is False and page.first_id == NAME and page.last_id == page.data[-1].id
    one = client.models.retrieve(NAME)
    assert (one.type, one.id, one.display_name) == ("model", NAME, NAME) and one.created_at == page.data[0].created_at
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_openai_sdk_still_gets_its_shape(server: LazarusProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=API_KEY, max_retries=0)
    models = client.models.list()
    assert models.data[0].id == NAME and models.data[0].object == "model" and models.data[0].owned_by == "lazarus"
    assert client.models.retrieve(NAME).id == NAME


def test_x_api_key_is_accepted_on_models_and_on_openai_routes(server: LazarusProcess) -> None:
    listed = httpx.get(f"{server.base_url}/v1/models", headers={"x-api-key": API_KEY}, timeout=30)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"][0]["type"] == "model"
    body = {"model": NAME, "prompt": "Hi", "max_tokens": 1}
    completion = httpx.post(f"{server.base_url}/v1/completions", json=body, headers={"x-api-key": API_KEY}, timeout=60)
    assert completion.status_code == 200, completion.text


def test_a_wrong_key_is_refused_in_the_askers_shape(server: LazarusProcess) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic.Anthropic(base_url=server.base_url, api_key="wrong", max_retries=0).models.list()
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError) as refused:
        openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="wrong", max_retries=0).models.list()
    assert refused.value.body["code"] == "invalid_api_key"  # type: ignore[index]
