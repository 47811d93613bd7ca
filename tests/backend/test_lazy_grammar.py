"""Lazy constraints on the llama.cpp backend with the real model: the constraint starts where its trigger
matches (mid-token included), and one that rejects its own trigger text leaves the output free."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import pytest

from chuk_lazarus.backends.base import BackendFinish, BackendJob, RawLogprob
from chuk_lazarus.core.grammar import Constraint
from chuk_lazarus.core.types import LazyTrigger, SamplingParams
from chuk_lazarus.engine import ModelEngine  # first: the engine package imports the backends

PROMPT = "<|im_start|>user\nWrite a sentence about the sea.<|im_end|>\n<|im_start|>assistant\n"


class Collect:
    def __init__(self) -> None:
        self.text = b""
        self.finish: BackendFinish | None = None
        self.error: Exception | None = None
        self.done = threading.Event()

    def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
        self.text += piece
        return True

    def on_admitted(self) -> None:
        pass

    def on_prompt_done(self, cached_tokens: int) -> None:
        pass

    def on_finish(self, reason: BackendFinish, completion_tokens: int) -> None:
        self.finish = reason
        self.done.set()

    def on_error(self, error: Exception) -> None:
        self.error = error
        self.done.set()


@pytest.fixture(scope="module")
def engine() -> Iterator[ModelEngine]:
    # Q4_1: its kernels give the same logits whatever the batch, so runs can be compared exactly.
    engine = asyncio.run(ModelEngine.load("smollm2-135m:q4_1", parallel=2, threads=1))
    yield engine
    engine.backend.close()


def run(engine: ModelEngine, grammar: str | None = None, triggers: tuple[LazyTrigger, ...] = ()) -> Collect:
    sink = Collect()
    constraint = Constraint(grammar, triggers=triggers) if grammar else None
    if constraint is not None:
        engine.backend.check_constraint(constraint)
    job = BackendJob(
        prompt_tokens=engine.backend.tokenize(PROMPT),
        sampling=SamplingParams(temperature=0.0),
        max_tokens=40,
        sink=sink,
        constraint=constraint,
    )
    engine.backend.submit(job)
    assert sink.done.wait(120)
    assert sink.error is None, sink.error
    return sink


def test_a_lazy_grammar_starts_at_its_trigger_even_inside_a_token(engine: ModelEngine) -> None:
    free = run(engine).text.decode()
    assert "e" in free
    lazy = run(engine, 'start: "e" /[a-z ]{0,12}/', (LazyTrigger("e"),)).text.decode()
    before = free.partition("e")[0]
    assert lazy.startswith(before + "e")  # free until the first "e" …
    assert re.fullmatch(r"[a-z ]{0,12}", lazy[len(before) + 1 :])  # … then held to the grammar
    assert lazy != free


def test_a_grammar_that_rejects_its_trigger_text_leaves_the_output_free(engine: ModelEngine) -> None:
    free = run(engine)
    rejected = run(engine, 'start: "zzz"', (LazyTrigger("e"),))
    assert rejected.text == free.text and rejected.finish == free.finish
    assert run(engine).text == free.text  # and the backend goes on serving
