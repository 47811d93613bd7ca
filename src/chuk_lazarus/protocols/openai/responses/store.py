"""Stored responses, so `previous_response_id` can continue a conversation: a bounded in-memory LRU.

Bounded twice, because every entry holds a whole conversation: at most `max_entries` responses (the
least recently used goes first) and each for at most `ttl_s` seconds after it was created (as OpenAI
keeps a response for a fixed time from its creation, not from its last use). Nothing survives a
restart; an evicted, expired, deleted or unknown id is a `NotFound`, the 404 a client expects.

One store per app, on `app.state`; the event loop is its only user, so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ....core.errors import NotFound
from ....serving.state import config_of

Item = dict[str, Any]


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]  # the response object as it was last sent
    # Every input item the model saw: earlier turns (by `previous_response_id`), then this request's
    # input. `input_items` lists them, as OpenAI does; a continuation prepends them and the output.
    # Copied, not linked, so a continuation works after the earlier responses are evicted (the item
    # dicts themselves are shared, not duplicated).
    context: tuple[Item, ...]

    @property
    def conversation(self) -> tuple[Item, ...]:
        """What a response continuing this one starts from."""
        return (*self.context, *self.response["output"])


class ResponseStore:
    def __init__(
        self, max_entries: int, ttl_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, StoredResponse]] = OrderedDict()  # id -> (expiry, entry)

    def __len__(self) -> int:
        self._drop_expired()
        return len(self._entries)

    def put(self, response_id: str, entry: StoredResponse) -> None:
        if self.max_entries <= 0:
            return  # storing is off: every later lookup is a 404
        self._drop_expired()
        self._entries[response_id] = (self.clock() + self.ttl_s, entry)
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, response_id: str, *, param: str | None = None) -> StoredResponse:
        found = self._entries.get(response_id)
        if found is None or found[0] <= self.clock():
            self._entries.pop(response_id, None)
            raise NotFound(f"Response with id '{response_id}' not found.", param=param)
        self._entries.move_to_end(response_id)
        return found[1]

    def delete(self, response_id: str) -> None:
        self.get(response_id)  # an expired or unknown id is a 404, as for GET
        del self._entries[response_id]

    def _drop_expired(self) -> None:
        # At most `max_entries` to look at, once per stored response: small beside a generation.
        now = self.clock()
        for key in [k for k, (expiry, _) in self._entries.items() if expiry <= now]:
            del self._entries[key]


def store_of(request: Request) -> ResponseStore:
    """The app's store, made on first use from the serving config (only apps serving the openai
    protocol ever need one, so `create_app` does not make it)."""
    state = request.app.state
    store: ResponseStore | None = getattr(state, "responses_store", None)
    if store is None:
        config = config_of(request)
        store = state.responses_store = ResponseStore(config.responses_store_max, config.responses_store_ttl)
    return store
