"""Shared fixtures. Contract tests get a real `lazarus serve` process on the embedded model.

Every contract test runs once per backend: the session fixture `backend` is parametrized with the
backends named in `LAZARUS_TEST_BACKENDS` (comma-separated; default `llama.cpp,transformers`):
`llama.cpp` (the embedded GGUF), `transformers` and `vllm` (the same weights as a safetensors folder,
see `smollm2_hf_folder`), so test ids end in `[llama.cpp]` / `[transformers]` / `[vllm]`. The servers
below depend on it; pytest orders the session by that parameter, so one backend's servers are started
once, used by every test, and stopped before the next backend's start.

vLLM cannot share an environment with the transformers extra (it pins transformers<5.20), so its run is
`LAZARUS_TEST_BACKENDS=vllm python -m pytest …` in a second environment (README, .ci/run). A test or a
file that does not apply to a backend says so with `@pytest.mark.backends("llama.cpp", reason=…)`: it
is skipped, with that reason, on the others; one that starts its own llama.cpp servers (no `backend`
parameter) is skipped when none of its backends is under test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.contract.server import LazarusProcess

API_KEY = "test-secret-key"
EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
BACKENDS = tuple(
    name.strip() for name in os.environ.get("LAZARUS_TEST_BACKENDS", "llama.cpp,transformers").split(",") if name.strip()
)
HF_BACKENDS = ("transformers", "vllm")  # those that serve the safetensors folder

Serve = Callable[..., LazarusProcess]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names, reason): the backends a test applies to; skipped on the others"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("backends")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason", "does not apply to this backend")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        if backend is not None:
            if backend not in marker.args:
                item.add_marker(pytest.mark.skip(reason=f"{backend}: {reason}"))
        elif not set(marker.args) & set(BACKENDS):
            item.add_marker(pytest.mark.skip(reason=f"{', '.join(marker.args)} not under test: {reason}"))


@pytest.fixture(scope="session")
def embedded_model_name() -> str:
    return EMBEDDED_MODEL_NAME


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend that serves the embedded model in this run of a contract test."""
    return str(request.param)


@pytest.fixture(scope="session")
def backend_args(backend: str, request: pytest.FixtureRequest) -> list[str]:
    """`lazarus serve` arguments that serve the embedded model on `backend`, under the same name."""
    if backend == "llama.cpp":
        return []  # the embedded GGUF is the default model
    folder = request.getfixturevalue("smollm2_hf_folder")
    if backend == "vllm":
        # vLLM's CPU build reserves 4 GiB of KV cache by default; 1 GiB holds every test's sequences.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ.setdefault("LAZARUS_TEST_STARTUP_S", "400")
        # One thread per engine: the tests run several servers at once on few cores, and two threads
        # of one engine waiting for each other behind another server's decode crawl (measured: 1.4
        # tok/s with 2 threads against 8.6 with 1 on 2 busy cores).
        return ["--backend", backend, "--model", str(folder), "--served-model-name", EMBEDDED_MODEL_NAME,
                "--threads", "1"]  # fmt: skip
    return ["--backend", backend, "--model", str(folder), "--served-model-name", EMBEDDED_MODEL_NAME]


@pytest.fixture(scope="session")
def embedded_aliases(backend: str, request: pytest.FixtureRequest) -> set[str]:
    """Other names the model-list endpoints show for `backend_args`' server: with --served-model-name
    the model stays reachable by the name given to --model (README), here the folder's path and name."""
    if backend == "llama.cpp":
        return set()
    folder = request.getfixturevalue("smollm2_hf_folder")
    return {str(folder), folder.name}


@pytest.fixture(scope="session")
def serve(backend_args: list[str]) -> Serve:
    """Start `lazarus serve <args>` on this run's backend: `serve("--protocols", "ollama")`."""

    def start(*args: str) -> LazarusProcess:
        return LazarusProcess([*backend_args, *args])

    return start


@pytest.fixture(scope="session")
def lazarus_server(serve: Serve) -> Iterator[LazarusProcess]:
    """One server for the session: every protocol enabled, no auth, the embedded model."""
    server = serve("--protocols", "openai,ollama,anthropic", "--parallel", "4")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lazarus_openai_server(serve: Serve) -> Iterator[LazarusProcess]:
    """The OpenAI protocol alone, as `lazarus serve` starts by default."""
    server = serve("--parallel", "4")
    yield server
    server.stop()


def exact_args(backend: str, parallel: int) -> list[str]:
    """Arguments for a server whose outputs do not depend on what else is in the batch.

    llama.cpp's CPU matmuls for 16-bit (and 32-bit) weights take a different kernel for one row than
    for many, so the same token decoded alone or inside a larger batch (concurrent requests, a cached
    prefix) differs around 1e-3 in logprob — enough to flip a sampled token now and then (measured).
    Q4_1 goes through the same quantized dot product for every row, so its outputs are exactly
    reproducible whatever else is in the batch (measured: identical with and without a cached prefix).
    """
    if backend == "llama.cpp":
        return ["--model", "smollm2-135m:q4_1", "--parallel", str(parallel)]
    # transformers (float32 on CPU) and vLLM are not batch-invariant either: the same prompt decoded alone and
    # in a batch with other sequences (left-padded, different matmul shapes) differs up to ~1e-5 in
    # logprob (measured). Small, but a near-tie can still flip; one sequence per batch keeps every
    # forward pass the same shape, so a request's numerics never depend on what else is running.
    return ["--parallel", "1"]


@pytest.fixture(scope="session")
def lazarus_exact_server(backend: str, serve: Serve) -> Iterator[LazarusProcess]:
    """A server for tests that compare exact texts across requests (see `exact_args`)."""
    server = serve(*exact_args(backend, parallel=4))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lazarus_auth_server(serve: Serve) -> Iterator[LazarusProcess]:
    """A server started with --api-key (OpenAI protocol; other protocols start their own)."""
    server = serve("--api-key", API_KEY, "--parallel", "2")
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

    # vLLM reads the safetensors itself: a folder another environment's transformers built will do (the
    # vLLM environment's older transformers rebuilding it would make the main one rebuild it again).
    return build(cache_dir() / "test-models", any_transformers="transformers" not in BACKENDS)
