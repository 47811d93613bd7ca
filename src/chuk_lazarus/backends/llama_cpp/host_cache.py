"""Prompt KV state kept in host RAM after its slot is reused, so a returning conversation (or agent, or
retry) restores its prefix instead of computing it again.

The slots hold only `--parallel` prompts' K/V; with more conversations than slots, each new prompt
evicts one, and the next turn of an evicted conversation used to prefill its whole history again.
llama-server keeps such states in RAM (`--cache-ram`); so do we. An entry is the token sequence a
slot held and llama.cpp's serialized state of that sequence (`llama_state_seq_get_data`). It is
served only for the prefix a new prompt shares with its tokens, token for token (the isolation rule
of prefix_cache.py: a request reuses K/V only for tokens it sent itself). Bounded in bytes; the least
recently used entries go first.

The scheduler's step saves and restores the bytes (into `state_buffer`s); this decides which.
"""

from __future__ import annotations

import ctypes
import mmap
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .prefix_cache import common_prefix

# A state is worth keeping only if restoring it saves at least this many tokens of prefill.
MIN_TOKENS = 32


@dataclass(frozen=True)
class PromptEnd:
    """The logits after `tokens` (a prompt), kept when its first token was sampled. A later request
    whose prompt is exactly `tokens` samples its first token from them at once, with no decode (they
    are the logits a decode of that prompt gives). They hold for any memory whose tokens start with
    `tokens`; carrying the tokens makes that checkable wherever the logits travel."""

    tokens: tuple[int, ...]
    logits: np.ndarray  # float32, one row of the vocabulary

    def follows(self, held: Sequence[int]) -> bool:
        """Whether these logits hold for a memory holding `held`."""
        return tuple(held[: len(self.tokens)]) == self.tokens


@dataclass(frozen=True)
class Entry:
    tokens: tuple[int, ...]
    # llama.cpp's serialized sequence state (K/V of `tokens`, positions 0..n-1): a ctypes byte array,
    # handed back to llama.cpp as it is; only its length matters here.
    state: Any
    prompt_end: PromptEnd | None = None

    @property
    def nbytes(self) -> int:
        return len(self.state) + (self.prompt_end.logits.nbytes if self.prompt_end is not None else 0)


class HostCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[int, ...], Entry] = OrderedDict()  # least recent first
        self.hits = 0  # restores, for stats

    def __len__(self) -> int:
        return len(self._entries)

    def wants(self, tokens: Sequence[int]) -> bool:
        """Whether saving `tokens` would add anything: long enough, and not held already as a prefix
        of an entry (a longer entry restores every prefix of it)."""
        if self.max_bytes <= 0 or len(tokens) < MIN_TOKENS:
            return False
        key = tuple(tokens)
        return not any(len(e.tokens) >= len(key) and e.tokens[: len(key)] == key for e in self._entries.values())

    def put(self, tokens: Sequence[int], state: Any, prompt_end: PromptEnd | None = None) -> None:
        """Keep `state` (and the logits at its prompt's end, when known), dropping entries it makes
        redundant (prefixes of it) and then the least recently used until everything fits. An entry
        larger than the whole budget is not kept."""
        key = tuple(tokens)
        if prompt_end is not None and not prompt_end.follows(key):
            prompt_end = None
        entry = Entry(key, state, prompt_end)
        if entry.nbytes > self.max_bytes or not self.wants(key):
            return
        for old in [k for k in self._entries if len(k) <= len(key) and key[: len(k)] == k]:
            self._drop(old)
        self._entries[key] = entry
        self.bytes += entry.nbytes
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def exact(self, prompt: Sequence[int]) -> Entry | None:
        """An entry holding all of `prompt` with the logits at its end (the same prompt seen before)."""
        key = tuple(prompt)
        for entry in self._entries.values():
            end = entry.prompt_end
            if end is not None and end.tokens == key and end.follows(entry.tokens):
                return entry
        return None

    def best(self, prompt: Sequence[int], limit: int) -> tuple[Entry | None, int]:
        """The entry sharing the longest prefix with `prompt`, and how many tokens (at most `limit`)."""
        found: Entry | None = None
        shared = 0
        prompt = tuple(prompt)  # slices of one type: a list slice never equals a tuple slice
        for entry in self._entries.values():
            n = min(common_prefix(entry.tokens, prompt), limit)
            if n > shared:
                found, shared = entry, n
        return found, shared

    def touch(self, entry: Entry) -> None:
        """`entry` was restored: it is the most recently used now."""
        self.hits += 1
        self._entries.move_to_end(entry.tokens)

    def _drop(self, key: tuple[int, ...]) -> None:
        self.bytes -= self._entries.pop(key).nbytes


def state_buffer(size: int) -> Any:
    """A zeroed ctypes byte array of `size` for a sequence state, in its own anonymous mapping.

    States are megabytes and come and go as the host cache evicts. From the C heap, glibc's sliding
    mmap threshold soon serves blocks that size from the arenas, and the holes they leave behind
    keep the process's RSS above the cache's byte bound; a mapping of its own is returned to the
    system when the last reference to the array goes."""
    return (ctypes.c_uint8 * size).from_buffer(mmap.mmap(-1, size))
