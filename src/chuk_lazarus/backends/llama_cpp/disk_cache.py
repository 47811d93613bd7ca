"""Prompt KV states on disk (`--cache-dir`): the tier under the host-RAM cache that survives restarts.

Every state the RAM cache keeps is also written here, by a writer thread (a state is megabytes; the
worker thread that decodes must not wait for a disk). A restarted server reads the index (each file's
token list, not its state) and serves a returning prompt's longest prefix from disk as it would from
RAM, under the same isolation rule: only for tokens the new prompt shares with the entry, token for
token. A state only fits the model and llama.cpp build that wrote it, so entries live in a folder
named by a fingerprint of both. Bounded in bytes; the least recently used files go first.

A file is `MAGIC`, the token count and the tokens (little-endian int32), then llama.cpp's state bytes.
It is written to a temporary name and renamed, so a reader sees a whole file or none; a file that
does not parse (cut short, another format) is deleted and never served.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .prefix_cache import common_prefix

log = logging.getLogger(__name__)

MAGIC = b"LZKV0001"
_HEADER = struct.Struct("<8sI")
# States waiting for the writer; past this the newest is not written (RAM still has it).
_QUEUE = 8


@dataclass
class DiskEntry:
    tokens: tuple[int, ...]
    path: Path
    size: int  # bytes of the whole file
    used: float  # last use (seconds since the epoch): the LRU order, also kept as the file's mtime


def fingerprint(model_path: Path, build: str) -> str:
    """What a state depends on: the exact model file and the llama.cpp build that serialized it."""
    stat = model_path.stat()
    key = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{build}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class DiskCache:
    def __init__(self, directory: Path, max_bytes: int, fingerprint: str) -> None:
        self.dir = directory / fingerprint
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.entries: dict[tuple[int, ...], DiskEntry] = {}
        self.bytes = 0
        self.hits = 0
        self._live: set[Path] = set()  # the files the index holds (the writer checks it)
        self._scan()
        self._queue: queue.Queue[tuple[Path, bytes] | None] = queue.Queue(_QUEUE)
        self._writer = threading.Thread(target=self._write_loop, name="lazarus-kv-disk", daemon=True)
        self._writer.start()

    # -- the worker thread's side -----------------------------------------------------------------

    def put(self, tokens: Sequence[int], state: Any) -> None:
        """Write `state` (a ctypes byte array) for `tokens` in the background, unless an entry already
        holds them as a prefix; entries that are prefixes of it are dropped."""
        key = tuple(tokens)
        size = _HEADER.size + 4 * len(key) + len(state)
        if size > self.max_bytes or any(len(k) >= len(key) and k[: len(key)] == key for k in self.entries):
            return
        payload = b"".join([_HEADER.pack(MAGIC, len(key)), np.asarray(key, dtype="<i4").tobytes(), bytes(state)])
        path = self.dir / f"{hashlib.sha256(payload[: _HEADER.size + 4 * len(key)]).hexdigest()[:32]}.kv"
        try:
            self._queue.put_nowait((path, payload))
        except queue.Full:
            return
        for old in [k for k in self.entries if len(k) < len(key) and key[: len(k)] == k]:
            self._remove(self.entries[old])
        self.entries[key] = DiskEntry(key, path, size, time.time())
        self._live.add(path)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self._remove(min(self.entries.values(), key=lambda e: e.used))

    def best(self, prompt: Sequence[int], limit: int) -> tuple[DiskEntry | None, int]:
        """The entry sharing the longest prefix with `prompt`, and how many tokens (at most `limit`)."""
        found: DiskEntry | None = None
        shared = 0
        prompt = tuple(prompt)
        for entry in self.entries.values():
            n = min(common_prefix(entry.tokens, prompt), limit)
            if n > shared:
                found, shared = entry, n
        return found, shared

    def load(self, entry: DiskEntry) -> bytes | None:
        """The state bytes of `entry`, or None (not written yet, or damaged: then it is forgotten)."""
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:
            return None  # still in the writer's queue
        except OSError as exc:
            log.warning("could not read a cached prompt state %s: %s", entry.path, exc)
            return None
        parsed = _parse(data)
        if parsed is None or parsed[0] != entry.tokens:
            log.warning("a cached prompt state on disk was damaged; removing it: %s", entry.path)
            self._remove(entry)
            return None
        self.hits += 1
        entry.used = time.time()
        try:
            os.utime(entry.path, (entry.used, entry.used))
        except OSError:
            pass
        return data[parsed[1] :]

    def close(self) -> None:
        """Let the writer finish what is queued, then stop it."""
        self._queue.put(None)
        self._writer.join(timeout=60)

    # -- internals ----------------------------------------------------------------------------------

    def _scan(self) -> None:
        """Index the files a previous run left: their tokens only (the states stay on disk)."""
        for path in self.dir.glob("*.kv"):
            try:
                with path.open("rb") as handle:
                    head = handle.read(_HEADER.size)
                    magic, count = _HEADER.unpack(head) if len(head) == _HEADER.size else (b"", 0)
                    body = handle.read(4 * count) if magic == MAGIC else b""
                stat = path.stat()
            except OSError:
                continue
            if magic != MAGIC or len(body) != 4 * count:
                path.unlink(missing_ok=True)
                continue
            key = tuple(int(t) for t in np.frombuffer(body, dtype="<i4"))
            self.entries[key] = DiskEntry(key, path, stat.st_size, stat.st_mtime)
            self._live.add(path)
            self.bytes += stat.st_size
        for stale in self.dir.glob("*.tmp"):  # a write cut short by a crash
            stale.unlink(missing_ok=True)
        while self.bytes > self.max_bytes and self.entries:
            self._remove(min(self.entries.values(), key=lambda e: e.used))

    def _remove(self, entry: DiskEntry) -> None:
        if self.entries.pop(entry.tokens, None) is not None:
            self.bytes -= entry.size
        self._live.discard(entry.path)
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove a cached prompt state %s: %s", entry.path, exc)

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            path, payload = item
            temporary = path.with_suffix(".tmp")
            try:
                temporary.write_bytes(payload)
                os.replace(temporary, path)
                if path not in self._live:  # evicted while it waited: the bound counts only the index
                    path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not write a prompt state to %s: %s", path, exc)
                temporary.unlink(missing_ok=True)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued state is on disk (tests; the worker thread never waits)."""
        self._queue.join()


def _parse(data: bytes) -> tuple[tuple[int, ...], int] | None:
    """(tokens, offset of the state) of a whole file, or None."""
    if len(data) < _HEADER.size:
        return None
    magic, count = _HEADER.unpack_from(data)
    start = _HEADER.size + 4 * count
    if magic != MAGIC or len(data) <= start:
        return None
    tokens = tuple(int(t) for t in np.frombuffer(data, dtype="<i4", count=count, offset=_HEADER.size))
    return tokens, start
