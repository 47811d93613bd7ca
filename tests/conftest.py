"""Shared fixtures. Contract tests get a real `lazarus serve` process on the embedded model."""

from __future__ import annotations

from collections.abc import Iterator

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
