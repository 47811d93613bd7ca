"""Random ids in one format for every protocol: a prefix and 24 letters or digits.

OpenAI's `chatcmpl-…` and `call_…`, Anthropic's `msg_…`, `toolu_…` and `req_…` all look like this,
so a tool call keeps the same random part whichever protocol renders it.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 24


def random_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def new_call_id() -> str:
    """A tool call's id as the engine makes it (`call_…`, the shape OpenAI clients expect)."""
    return random_id("call_")
