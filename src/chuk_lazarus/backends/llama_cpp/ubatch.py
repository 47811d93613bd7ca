"""How llama.cpp will split one of our batches into passes over the weights (micro-batches).

With one KV stream per sequence (`kv_unified = False`, step.py says why), llama.cpp's
`split_equal(sequential=true)` builds each micro-batch from sequences whose ids run consecutively in
batch order, taking the same number of tokens from each. So sixteen decoding sequences with one
token each are one pass, but give one of them a 5-token draft and its other 4 tokens are a second
pass; sequences 0, 2, 4, 6 are four passes where 0, 1, 2, 3 are one. Measured on 2 CPU cores, 200
tokens of context each: 16 x 1 token 60 ms, the same with one sequence at 5 tokens 91 ms, with four at
5 tokens 182 ms; sequences 0-7 x 1 token 41 ms, 0, 2, ..., 14 x 1 token 89 ms.

This mirrors that rule (llama-batch.cpp, `split_equal`) closely enough to price a plan: it gives the
token count of each pass for a batch laid out as (sequence id, tokens) runs in batch order.
"""

from __future__ import annotations

from collections.abc import Sequence


def micro_batches(layout: Sequence[tuple[int, int]], n_ubatch: int) -> list[int]:
    """Tokens in each pass llama.cpp makes for a batch of `layout`: (seq_id, tokens) in batch order,
    each sequence's tokens together."""
    left = {}
    for seq_id, n in layout:
        if n > 0:
            left[seq_id] = left.get(seq_id, 0) + n
    order = list(left)  # batch order of each sequence's first token
    passes: list[int] = []
    while order:
        chosen = [order[0]]
        for seq_id in order[1:]:
            if seq_id == chosen[-1] + 1:
                chosen.append(seq_id)
        take = max(1, min(min(left[s] for s in chosen), n_ubatch // len(chosen)))
        passes.append(take * len(chosen))
        for s in chosen:
            left[s] -= take
        order = [s for s in order if left[s] > 0]
    return passes
