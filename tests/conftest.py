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
def lazarus_exact_server() -> Iterator[LazarusProcess]:
    """The embedded model's shipped Q4_1 file, for tests that compare exact texts across requests.

    llama.cpp's CPU matmuls for 16-bit (and 32-bit) weights take a different kernel for one row than
    for many, so the same token decoded alone or inside a larger batch (concurrent requests, a cached
    prefix) differs around 1e-3 in logprob — enough to flip a sampled token now and then (measured).
    Q4_1 goes through the same quantized dot product for every row, so its outputs are exactly
    reproducible whatever else is in the batch (measured: identical with and without a cached prefix).
    """
    server = LazarusProcess(["--model", "smollm2-135m:q4_1", "--parallel", "4"])
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
