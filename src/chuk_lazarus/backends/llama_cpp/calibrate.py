"""Time this context's decode by batch size, once at load, for the draft plan (backends/draft_plan.py)
and the fillers (fillers.py).

What a drafted token costs is a property of the model, the machine and llama.cpp's kernels (on a
2-core CPU, measured: 1 token 12.8 ms, 2 tokens 22.3 ms, 9 tokens 41.5 ms, 17 tokens 61.9 ms), so it
is measured rather than assumed. A throwaway sequence gets a short prompt, then runs of each size are
decoded on top of it, every row with logits as a drafted run has, and removed again. The fastest of a
few tries counts: noise only ever adds time. About a third of a second on that machine.
"""

from __future__ import annotations

import time

import llama_cpp as C

from ..draft_plan import StepCost
from .batch import Batch

SIZES = (1, 2, 4, 8, 16)
TRIES = 2
CONTEXT = 64  # tokens already in memory under each timed run (attention has something to read)


def measure_step_cost(ctx: C.llama_context_p, batch: Batch, seq_id: int, n_vocab: int) -> StepCost | None:
    """Decode runs of `SIZES` tokens in sequence `seq_id` (empty before, empty after); None when the
    batch is too small to time two sizes (then nothing is drafted)."""
    memory = C.llama_get_memory(ctx)
    context = min(CONTEXT, batch.capacity // 2)  # a tiny --batch-size still gets a context under the runs
    sizes = [n for n in SIZES if context + n <= batch.capacity]
    if len(sizes) < 2:
        return None
    tokens = [(7 + 13 * i) % n_vocab for i in range(context + max(sizes))]  # any valid ids will do
    try:
        batch.clear()
        batch.add(tokens[:context], 0, seq_id, False)
        if C.llama_decode(ctx, batch.ready()) != 0:
            raise RuntimeError("llama_decode failed while timing the context")
        samples = []
        for n in sizes:
            best = float("inf")
            for _ in range(TRIES):
                batch.clear()
                batch.add_all(tokens[context : context + n], context, seq_id)
                start = time.perf_counter()
                rc = C.llama_decode(ctx, batch.ready())
                best = min(best, time.perf_counter() - start)
                C.llama_memory_seq_rm(memory, seq_id, context, -1)
                if rc != 0:
                    raise RuntimeError("llama_decode failed while timing the context")
            samples.append((n, best))
    finally:
        C.llama_memory_seq_rm(memory, seq_id, -1, -1)
        batch.clear()
    return StepCost.measured(samples)
