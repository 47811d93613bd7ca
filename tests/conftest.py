"""Shared fixtures. Contract tests get a real `lazarus serve` process on the embedded model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.server import LazarusProcess

API_KEY = "test-secret-key"


@pytest.fixture(scope="session")
def embedded_model_name() -> str:
    return "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def lazarus_server() -> Iterator[LazarusProcess]:
    """One server for the session: every protocol enabled, no auth, the embedded model."""
    server = LazarusProcess(["--protocols", "openai,ollama,anthropic", "--parallel", "4"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lazarus_openai_server() -> Iterator[LazarusProcess]:
    """The OpenAI protocol alone, as `lazarus serve` starts by default."""
    server = LazarusProcess(["--parallel", "4"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lazarus_auth_server() -> Iterator[LazarusProcess]:
    """A server started with --api-key (OpenAI protocol; other protocols start their own)."""
    server = LazarusProcess(["--api-key", API_KEY, "--parallel", "2"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smollm2_hf_folder() -> Path:
    """The embedded SmolLM2 as a real Hugging Face safetensors folder, for `--backend transformers`.

    Built once without the network (GGUF -> transformers -> save_pretrained, see
    tests/transformers/make_model.py) and cached under the chuk-lazarus cache dir. Skips only when the
    `transformers` extra is not installed.
    """
    for module in ("torch", "transformers", "accelerate", "llguidance"):
        pytest.importorskip(module, reason="the transformers extra is not installed")
    from chuk_lazarus.models.embedded import cache_dir
    from tests.transformers.make_model import smollm2_hf_folder as build

    return build(cache_dir() / "test-models")
