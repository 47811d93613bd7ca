"""A fast test for "might this text hold a control token's text?", so that the forged-turn check
(engine/chat_tokens.py) tokenizes a message twice only when it might.

Tokenizing with and without special-token parsing differs only where the text holds one of the
vocabulary's control-token texts; a text holding none of them needs no second tokenization. That
check was three tokenizations per message, most of a chat request's planning time.
"""

from __future__ import annotations

import re


def control_marks(texts: list[str]) -> re.Pattern[str] | None:
    """One pattern matching any of `texts`; None (cannot tell: always tokenize both ways) when one is
    empty, since an empty control text would match everywhere."""
    if any(not t for t in texts):
        return None
    if not texts:
        return re.compile(r"(?!)")  # matches nothing
    # Longest first only matters for which match is reported; any match means "might".
    return re.compile("|".join(re.escape(t) for t in sorted(set(texts), key=len, reverse=True)))
