"""A transformers-backend engine on the SmolLM2 safetensors folder, shared by this package's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from chuk_lazarus.engine.engine import ModelEngine


@pytest.fixture(scope="session")
def hf_engine(smollm2_hf_folder: Path) -> Iterator[ModelEngine]:
    # Loaded once with its own event loop: the engine posts to whichever loop runs each request.
    engine = asyncio.run(ModelEngine.load(str(smollm2_hf_folder), backend="transformers", parallel=4))
    yield engine
    engine.backend.close()
