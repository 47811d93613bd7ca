"""Token logprobs in the item shape OpenAI defined and Ollama adopted: `{token, logprob, bytes, top_logprobs}`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.types import TokenLogprob


def logprob_items(items: Iterable[TokenLogprob]) -> list[dict[str, Any]]:
    return [
        {
            "token": lp.token,
            "logprob": lp.logprob,
            "bytes": list(lp.bytes),
            "top_logprobs": [{"token": t, "logprob": v, "bytes": list(b)} for t, v, b in lp.top],
        }
        for lp in items
    ]
