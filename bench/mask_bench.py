"""The per-token cost of a constraint alone: llguidance's mask, applied to a row of logits, per sequence.

    python bench/mask_bench.py [--sequences 1 16] [--model smollm2-135m]

No decoding: each of N sequences walks the same valid JSON document (an invoice) token by token under
its schema, and every step is timed the way the samplers do it (backends/guidance.py): the whole-vocab
mask into a numpy row (`Guide.allowed`, then `-inf` where it is off), and, separately, the one-token
check the llama.cpp sampler tries first (`Guide.allows`). Reported: microseconds per token, median and
p90, for N sequences stepped one after another (the worker thread does them in turn).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from chuk_lazarus.backends.guidance import ConstraintCompiler
from chuk_lazarus.backends.llama_cpp.model import LlamaModel
from chuk_lazarus.core.grammar import schema_constraint
from chuk_lazarus.models import resolve_model

SCHEMA = {
    "type": "object",
    "properties": {
        "number": {"type": "string", "pattern": "^INV-[0-9]{4}$"},
        "date": {"type": "string", "format": "date"},
        "customer": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
                                                      "email": {"type": "string", "format": "email"}},
                     "required": ["name", "email"]},
        "items": {"type": "array", "maxItems": 5, "items": {
            "type": "object", "properties": {"description": {"type": "string", "maxLength": 60},
                                             "qty": {"type": "integer", "minimum": 1},
                                             "unit_price": {"type": "number", "minimum": 0}},
            "required": ["description", "qty", "unit_price"]}},
        "total": {"type": "number", "minimum": 0},
    },
    "required": ["number", "date", "customer", "items", "total"],
}  # fmt: skip
DOCUMENT = {
    "number": "INV-0042", "date": "2026-03-14",
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"description": "Two hours of consulting on analytical engines", "qty": 2, "unit_price": 150.0},
              {"description": "Travel", "qty": 1, "unit_price": 42.5}],
    "total": 342.5,
}  # fmt: skip


def measure(compiler: ConstraintCompiler, tokens: list[int], n: int) -> tuple[list[float], list[float]]:
    constraint = schema_constraint(SCHEMA, param="bench")
    guides = [compiler.guide(constraint, lambda _t: b"") for _ in range(n)]
    row = np.random.default_rng(0).standard_normal(compiler.n_vocab).astype(np.float32)
    mask_us: list[float] = []
    check_us: list[float] = []
    for token in tokens:
        for guide in guides:
            started = time.perf_counter_ns()
            allowed = guide.allowed()
            logits = row.copy()
            logits[~allowed] = -np.inf
            mask_us.append((time.perf_counter_ns() - started) / 1000)
            started = time.perf_counter_ns()
            guide.allows(token)
            check_us.append((time.perf_counter_ns() - started) / 1000)
            guide.accept(token)
    return mask_us, check_us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--sequences", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    model = LlamaModel(resolve_model(args.model).path)
    compiler = ConstraintCompiler(model.lltokenizer(), model.n_vocab)
    text = json.dumps(DOCUMENT, separators=(",", ":"))
    tokens = model.tokenize(text, add_special=False)
    print(f"{len(tokens)} tokens per document, vocabulary {model.n_vocab}")
    for n in args.sequences:
        mask, check = measure(compiler, tokens, n)
        p90 = statistics.quantiles(mask, n=10)[-1]
        print(
            f"{n:>3} sequences: mask {statistics.median(mask):7.1f} us/token (p90 {p90:.1f}), "
            f"one-token check {statistics.median(check):5.1f} us/token; "
            f"{n * statistics.median(mask) / 1000:.2f} ms of masking per step"
        )
    model.close()


if __name__ == "__main__":
    main()
