"""What a slot's KV memory holds, and where it comes from: its own earlier prompt, another slot's
(shared by `llama_memory_seq_cp`), or a state saved in the host-RAM cache (host_cache.py) or on disk
(disk_cache.py) before its slot was taken. The step (step.py) decides which; this moves the bytes."""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import llama_cpp as C

from .disk_cache import DiskCache
from .host_cache import MIN_TOKENS, Entry, HostCache, state_buffer
from .slot import Slot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """A cached sequence state chosen for a prompt: `shared` of its tokens to keep; `entry` when it
    is the RAM cache's (None: loaded from disk)."""

    state: Any
    tokens: tuple[int, ...]
    shared: int
    entry: Entry | None


class SlotMemory:
    """The moves of K/V between slots and the caches, on the worker thread."""

    def __init__(self, ctx: C.llama_context_p, host_cache: HostCache, disk_cache: DiskCache | None) -> None:
        self.ctx = ctx
        self.memory = C.llama_get_memory(ctx)
        self.host_cache = host_cache
        self.disk_cache = disk_cache

    def reuse(self, slot: Slot, reuse: int, source: Slot | None) -> int:
        """Make `slot`'s memory hold the first `reuse` prompt tokens; how many it really holds."""
        if source is not None:
            # Across streams llama.cpp copies a whole sequence (a buffer copy at the next decode);
            # then the part past the shared prefix is dropped.
            C.llama_memory_seq_cp(self.memory, source.seq_id, slot.seq_id, -1, -1)
            source.copy_pending = slot.copy_pending = True
            C.llama_memory_seq_rm(self.memory, slot.seq_id, reuse, -1)
            slot.cached = source.cached[:reuse]
            slot.prompt_end = source.prompt_end
        elif not C.llama_memory_seq_rm(self.memory, slot.seq_id, reuse, -1):
            # Some memories (recurrent models) cannot drop a tail: start this sequence afresh.
            C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            reuse = 0
        del slot.cached[reuse:]
        return reuse

    def save(self, slot: Slot, *, keep: int) -> None:
        """Copy the slot's sequence state into the host cache (and the disk tier), if enough of it is
        about to be lost."""
        cache, disk = self.host_cache, self.disk_cache
        if slot.copy_pending or len(slot.cached) - keep < MIN_TOKENS:
            return
        if not (cache.wants(slot.cached) or disk is not None):
            return
        size = C.llama_state_seq_get_size(self.ctx, slot.seq_id)
        if size <= 0 or size > max(cache.max_bytes, disk.max_bytes if disk else 0):
            return
        state = state_buffer(size)
        written = C.llama_state_seq_get_data(self.ctx, state, size, slot.seq_id)
        if written != size:
            log.warning("could not save a sequence state (%d of %d bytes)", written, size)
            return
        cache.put(slot.cached, state, slot.prompt_end)
        if disk is not None:
            disk.put(slot.cached, state)

    def stored(self, prompt: list[int], reuse: int) -> Stored | None:
        """The cached state (RAM first, then disk) worth restoring for `prompt` over the `reuse` tokens
        the slots give it: the same prompt with the logits at its end (no decode for its first
        token), or one sharing at least `MIN_TOKENS` more of it."""
        limit = len(prompt) - 1
        entry, shared = self.host_cache.best(prompt, limit=limit)
        exact = self.host_cache.exact(prompt) if reuse < len(prompt) else None
        if exact is not None:
            entry, shared = exact, len(prompt)
        found = Stored(entry.state, entry.tokens, shared, entry) if entry is not None else None
        if self.disk_cache is not None:
            on_disk, disk_shared = self.disk_cache.best(prompt, limit=limit)
            if on_disk is not None and disk_shared >= max(shared, reuse) + MIN_TOKENS:
                loaded = self.disk_cache.load(on_disk)
                if loaded is not None:
                    state = state_buffer(len(loaded))
                    ctypes.memmove(state, loaded, len(loaded))
                    self.host_cache.put(on_disk.tokens, state)  # back in RAM for the next time
                    return Stored(state, on_disk.tokens, disk_shared, None)
        if found is None or (exact is None and shared < reuse + MIN_TOKENS):
            return None
        return found

    def restore(self, slot: Slot, stored: Stored) -> int:
        """Put `stored` into `slot`'s memory; the number of prompt tokens in memory afterwards."""
        C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
        if C.llama_state_seq_set_data(self.ctx, stored.state, len(stored.state), slot.seq_id) == 0:
            log.warning("could not restore a cached sequence state; computing the prompt instead")
            C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            slot.cached.clear()
            return 0
        C.llama_memory_seq_rm(self.memory, slot.seq_id, stored.shared, -1)
        slot.cached = list(stored.tokens[: stored.shared])
        slot.prompt_end = stored.entry.prompt_end if stored.entry is not None else None
        if stored.entry is not None:
            self.host_cache.touch(stored.entry)
        return stored.shared
