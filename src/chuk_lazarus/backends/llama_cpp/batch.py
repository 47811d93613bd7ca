"""A `llama_batch` whose arrays are numpy buffers we own, so a step fills it with slice assignments.

`llama_batch_init` allocates one tiny seq-id array per token, which Python would have to set one ctypes
call at a time; here every token's seq-id pointer points into one contiguous int32 array instead.
"""

from __future__ import annotations

import ctypes

import llama_cpp as C
import numpy as np


class Batch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.token = np.zeros(capacity, dtype=np.int32)
        self.pos = np.zeros(capacity, dtype=np.int32)
        self.n_seq_id = np.ones(capacity, dtype=np.int32)
        self.seq = np.zeros(capacity, dtype=np.int32)
        self.logits = np.zeros(capacity, dtype=np.int8)
        int_p = ctypes.POINTER(ctypes.c_int32)
        base = self.seq.ctypes.data
        self._seq_ptrs = (int_p * capacity)(*(ctypes.cast(base + 4 * i, int_p) for i in range(capacity)))
        self.struct = C.llama_batch(
            n_tokens=0,
            token=self.token.ctypes.data_as(int_p),
            embd=ctypes.POINTER(ctypes.c_float)(),
            pos=self.pos.ctypes.data_as(int_p),
            n_seq_id=self.n_seq_id.ctypes.data_as(int_p),
            seq_id=self._seq_ptrs,
            logits=self.logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
        )
        self.n = 0
        self.n_outputs = 0

    def clear(self) -> None:
        self.n = 0
        self.n_outputs = 0

    @property
    def room(self) -> int:
        return self.capacity - self.n

    def add(self, tokens: list[int], start_pos: int, seq_id: int, want_last: bool) -> int:
        """Append `tokens` of one sequence at positions start_pos…; returns the output row of the last
        token's logits (rows count only tokens that want logits), or -1."""
        n, k = self.n, len(tokens)
        end = n + k
        if k == 1:
            self.token[n] = tokens[0]
            self.pos[n] = start_pos
        else:
            self.token[n:end] = tokens
            self.pos[n:end] = np.arange(start_pos, start_pos + k, dtype=np.int32)
        self.seq[n:end] = seq_id
        self.logits[n:end] = 0
        self.n = end
        if not want_last:
            return -1
        self.logits[end - 1] = 1
        self.n_outputs += 1
        return self.n_outputs - 1

    def add_all(self, tokens: list[int], start_pos: int, seq_id: int) -> int:
        """Append `tokens` of one sequence, every one wanting logits (a drafted run to verify); returns
        the output row of the first, the others following it."""
        first = self.n_outputs
        self.add(tokens, start_pos, seq_id, False)
        self.logits[self.n - len(tokens) : self.n] = 1
        self.n_outputs += len(tokens)
        return first

    def ready(self) -> C.llama_batch:
        self.struct.n_tokens = self.n
        return self.struct
