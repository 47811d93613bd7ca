"""The host-RAM prompt cache's choices: byte bound, least-recently-used eviction, longest shared
prefix only (never tokens the new prompt did not send), redundant prefixes dropped."""

from __future__ import annotations

from chuk_lazarus.backends.llama_cpp.host_cache import MIN_TOKENS, HostCache


def seq(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


def test_the_byte_bound_is_never_exceeded_and_the_least_recent_goes_first() -> None:
    cache = HostCache(max_bytes=250)
    for i in range(5):
        cache.put(seq(1000 * i, 40), b"x" * 100)
        assert cache.bytes <= 250
    assert len(cache) == 2
    assert cache.best(seq(3000, 40), limit=39)[1] == 39 and cache.best(seq(4000, 40), limit=39)[1] == 39
    assert cache.best(seq(0, 40), limit=39) == (None, 0)  # evicted


def test_a_restore_makes_an_entry_recent() -> None:
    cache = HostCache(max_bytes=200)
    cache.put(seq(0, 40), b"a" * 100)
    cache.put(seq(1000, 40), b"b" * 100)
    entry, _ = cache.best(seq(0, 40), limit=39)
    assert entry is not None
    cache.touch(entry)
    cache.put(seq(2000, 40), b"c" * 100)  # evicts the least recent: the 1000s, not the touched one
    assert cache.best(seq(0, 40), limit=39)[1] == 39
    assert cache.best(seq(1000, 40), limit=39) == (None, 0)


def test_only_the_prefix_the_prompt_shares_token_for_token_is_offered() -> None:
    cache = HostCache(max_bytes=10_000)
    cache.put(seq(0, 100), b"x" * 10)
    prompt = seq(0, 100)
    prompt[37] = -5  # differs from token 37 on
    entry, shared = cache.best(prompt, limit=len(prompt) - 1)
    assert entry is not None and shared == 37
    assert cache.best([7, *seq(1, 99)], limit=99) == (None, 0)  # the first token differs: nothing
    assert cache.best(seq(0, 100), limit=99)[1] == 99  # at least one token is always left to compute


def test_the_longest_match_wins_and_prefixes_of_an_entry_are_redundant() -> None:
    cache = HostCache(max_bytes=10_000)
    cache.put(seq(0, 50), b"s" * 10)
    cache.put(seq(0, 80), b"l" * 10)  # extends the first: the shorter one goes
    assert len(cache) == 1 and cache.bytes == 10
    assert not cache.wants(seq(0, 60))  # already held, as a prefix of the longer entry
    entry, shared = cache.best(seq(0, 200), limit=199)
    assert entry is not None and entry.state == b"l" * 10 and shared == 80


def test_short_states_disabled_caches_and_states_over_the_bound_are_not_kept() -> None:
    cache = HostCache(max_bytes=100)
    cache.put(seq(0, MIN_TOKENS - 1), b"x")
    cache.put(seq(100, 40), b"x" * 101)
    assert len(cache) == 0 and cache.bytes == 0
    off = HostCache(max_bytes=0)
    off.put(seq(0, 40), b"")
    assert len(off) == 0
