"""The disk tier of the prompt cache, alone: what it keeps, what it serves, what it survives."""

from __future__ import annotations

import ctypes
from pathlib import Path

from chuk_lazarus.backends.llama_cpp.disk_cache import DiskCache


def state(n: int, fill: int) -> ctypes.Array[ctypes.c_uint8]:
    return (ctypes.c_uint8 * n)(*([fill] * n))


def settle(cache: DiskCache) -> DiskCache:
    cache.flush()
    return cache


def test_a_state_is_served_only_for_the_prefix_a_prompt_shares(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 1 << 20, "m")
    tokens = list(range(100))
    cache.put(tokens, state(64, 7))
    settle(cache)
    entry, shared = cache.best([*range(60), 999, 61], limit=1000)
    assert entry is not None and shared == 60  # never past the first token that differs
    assert cache.load(entry) == bytes([7] * 64)
    assert cache.best([5, *range(1, 100)], limit=1000) == (None, 0)  # differs at the first token
    entry, shared = cache.best(tokens, limit=99)
    assert shared == 99


def test_entries_survive_a_restart_and_damaged_files_are_dropped(tmp_path: Path) -> None:
    first = DiskCache(tmp_path, 1 << 20, "m")
    first.put(list(range(50)), state(32, 1))
    first.put(list(range(1000, 1040)), state(32, 2))
    first.close()
    files = sorted((tmp_path / "m").glob("*.kv"))
    assert len(files) == 2
    files[0].write_bytes(files[0].read_bytes()[:20])  # cut short, as by a crash or a full disk
    again = DiskCache(tmp_path, 1 << 20, "m")
    assert len(again.entries) == 1
    (key,) = again.entries
    entry, shared = again.best(list(key), limit=1000)
    assert entry is not None and shared == len(key) and again.load(entry) in (bytes([1] * 32), bytes([2] * 32))
    assert DiskCache(tmp_path, 1 << 20, "another-model").entries == {}  # another fingerprint, another folder


def test_the_byte_bound_holds_and_the_least_recently_used_go_first(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 3 * 1100, "m")
    for k in range(6):
        cache.put([k * 1000 + i for i in range(40)], state(900, k))
        settle(cache)
        assert cache.bytes <= cache.max_bytes
    kept = {key[0] // 1000 for key in cache.entries}
    assert kept == {3, 4, 5}
    cache.close()
    on_disk = sum(p.stat().st_size for p in (tmp_path / "m").glob("*.kv"))
    assert on_disk <= cache.max_bytes


def test_a_longer_entry_replaces_its_prefixes(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 1 << 20, "m")
    cache.put(list(range(40)), state(16, 1))
    cache.put(list(range(80)), state(16, 2))
    cache.put(list(range(60)), state(16, 3))  # a prefix of what is held: nothing to add
    assert list(cache.entries) == [tuple(range(80))]
