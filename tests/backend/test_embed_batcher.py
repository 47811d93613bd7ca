"""The shared embedding worker (backends/embedding.py) with a scripted runner: batching across requests,
splitting a large request, bounded admission, failures that fail only their batch, normalization."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chuk_lazarus.backends.embedding import EmbedBatcher
from chuk_lazarus.core.errors import GenerationFailed, Overloaded


class Runner:
    """Vector of an input: [len, first token]; records each batch; can block or fail on demand."""

    def __init__(self) -> None:
        self.batches: list[list[list[int]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # run() was called (and may be waiting at the gate)
        self.fail_next = False
        self.closed = False

    def worker(self) -> Any:
        return nullcontext()

    def run(self, batch: list[list[int]]) -> np.ndarray:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(batch)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        return np.array([[float(len(t)), float(t[0])] for t in batch])

    def close(self) -> None:
        self.closed = True


def batcher(runner: Runner, **kwargs: Any) -> EmbedBatcher:
    options: dict[str, Any] = {"max_seqs": 4, "max_tokens": 10, "max_queue": 8, "name": "test-embed", **kwargs}
    return EmbedBatcher(lambda: runner, **options)


def test_vectors_are_normalized_in_input_order() -> None:
    runner = Runner()
    b = batcher(runner)
    out = b.submit([[3, 0, 0, 0], [0]]).result(10)
    assert np.allclose(out[0], [0.8, 0.6]) and np.allclose(out[1], [1.0, 0.0])
    b.close()
    assert runner.closed


def test_concurrent_requests_share_a_batch_and_a_large_one_is_split() -> None:
    runner = Runner()
    b = batcher(runner)
    runner.gate.clear()
    first = b.submit([[1]])
    assert runner.entered.wait(10)  # the worker holds this one, blocked in run()
    queued = [b.submit([[2], [3]]), b.submit([[4, 4]]), b.submit([[5]] * 6)]
    runner.gate.set()
    for future in (first, *queued):
        future.result(10)
    sizes = [len(batch) for batch in runner.batches]
    assert sum(sizes) == 1 + 2 + 1 + 6 and max(sizes) <= 4
    assert len(runner.batches) < 1 + len(queued) + 1  # fewer forward passes than one per request
    assert len(queued[2].result()) == 6
    b.close()


def test_token_budget_bounds_a_batch() -> None:
    runner = Runner()
    b = batcher(runner, max_tokens=10)
    b.submit([[1] * 6, [2] * 6, [3] * 4]).result(10)
    assert [sum(len(t) for t in batch) for batch in runner.batches] == [6, 10]
    with pytest.raises(ValueError):
        b.submit([[1] * 11])
    b.close()


def test_a_full_queue_is_overloaded_at_once_and_closing_refuses() -> None:
    runner = Runner()
    b = batcher(runner, max_queue=1)
    runner.gate.clear()
    b.submit([[1]])
    assert runner.entered.wait(10)  # the worker holds the first one
    b.submit([[2]])
    with pytest.raises(Overloaded):
        b.submit([[3]])
    runner.gate.set()
    b.close()
    with pytest.raises(Overloaded):
        b.submit([[4]])


def test_a_failed_batch_fails_its_requests_and_the_worker_goes_on() -> None:
    runner = Runner()
    b = batcher(runner)
    runner.fail_next = True
    with pytest.raises(GenerationFailed):
        b.submit([[1]]).result(10)
    assert len(b.submit([[1]]).result(10)) == 1
    b.close()


def test_the_runner_is_made_lazily_unless_eager() -> None:
    made: list[int] = []

    def make() -> Runner:
        made.append(1)
        return Runner()

    lazy = EmbedBatcher(make, max_seqs=2, max_tokens=4, max_queue=2, name="lazy")
    assert made == []
    lazy.submit([[1]]).result(10)
    assert made == [1]
    lazy.close()
    eager = EmbedBatcher(make, max_seqs=2, max_tokens=4, max_queue=2, name="eager", eager=True)
    assert made == [1, 1]
    eager.close()


def test_sentence_transformers_pooling_config(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from chuk_lazarus.backends.transformers.embed import sentence_transformers_pooling

    assert sentence_transformers_pooling(tmp_path) is None
    (tmp_path / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},'
        ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]'
    )
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert sentence_transformers_pooling(tmp_path) == "cls"
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_lasttoken": true}')
    assert sentence_transformers_pooling(tmp_path) == "last"
