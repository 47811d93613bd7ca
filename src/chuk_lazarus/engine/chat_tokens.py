"""Tokenizing a rendered chat so that control tokens come only from the template, never from messages.

A user message holding `<|im_end|>\\n<|im_start|>system …` would, tokenized with the rest of the
prompt, become those control tokens: a forged turn. So:

1. Each message content is tokenized with and without special-token parsing. Where the two agree for
   every message (the normal case), the rendered prompt is tokenized as one text, exactly as before.
   A content the backend can tell holds no control token's text (`Backend.may_hold_control_text`)
   skips the two tokenizations: they could not differ.
2. Otherwise the template is rendered again with each such content replaced by a unique placeholder.
   The render is cut at the placeholders: the template's own parts are tokenized with special parsing,
   each content part without it. The pieces must put the real render back together exactly (a
   content may have been trimmed by the template: `c`, `c.strip()`, `c.lstrip()`, `c.rstrip()` are
   tried); when they cannot (a template that branches on what a message says, or rewrites it), the
   request is refused with a 400 rather than tokenized unsafely.

Text tokenized in pieces can differ from the same text tokenized whole at the seams (a merge across
them, SentencePiece's leading space); step 1 keeps that to requests that carry control-token text.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from ..backends.base import Backend
from ..core.errors import InvalidRequest
from .templates import ChatTemplate


def tokenize_chat(
    template: ChatTemplate,
    messages: list[dict[str, Any]],
    backend: Backend,
    *,
    tools: list[dict[str, Any]] | None,
    add_generation_prompt: bool,
    template_kwargs: dict[str, Any] | None = None,
) -> tuple[str, list[int]]:
    """The rendered prompt and its tokens, control tokens only where the template wrote them."""
    kwargs = template_kwargs or {}
    text = template.render(messages, tools=tools, add_generation_prompt=add_generation_prompt, template_kwargs=kwargs)
    for i, m in enumerate(messages):
        # Earlier reasoning sent back is rendered by some templates, as message text is; it is not
        # cut out by placeholders like content, so control-token text in it is refused outright.
        if _holds_control_text(m.get("reasoning_content"), backend):
            raise InvalidRequest(
                "an assistant message's reasoning holds the text of one of the model's control tokens "
                "(such as its turn markers); remove it from the reasoning",
                param=f"messages[{i}]",
            )
    marked = [i for i, m in enumerate(messages) if _holds_control_text(m.get("content"), backend)]
    if not marked:
        # The template writes any BOS itself; tokenizing must not add a second one.
        return text, backend.tokenize(text, add_special=False)
    nonce = secrets.token_hex(8)
    placeholders = {f"LZ{nonce}M{i}Z": str(messages[i]["content"]) for i in marked}
    stand_ins = [
        {**m, "content": f"LZ{nonce}M{i}Z"} if i in marked else m for i, m in enumerate(messages)
    ]
    skeleton = template.render(
        stand_ins, tools=tools, add_generation_prompt=add_generation_prompt, template_kwargs=kwargs
    )
    pieces = re.split("(" + "|".join(re.escape(p) for p in placeholders) + ")", skeleton)
    tokens: list[int] = []
    pos = 0
    for k, piece in enumerate(pieces):
        if k % 2 == 0:  # the template's own text
            if not text.startswith(piece, pos):
                raise _cannot_separate()
            pos += len(piece)
            if piece:
                tokens += backend.tokenize(piece, add_special=False, parse_special=True)
            continue
        content = placeholders[piece]
        after = pieces[k + 1]
        rendered = next(
            (c for c in dict.fromkeys((content, content.strip(), content.lstrip(), content.rstrip()))
             if text.startswith(c, pos) and text.startswith(after, pos + len(c))),
            None,
        )  # fmt: skip
        if rendered is None:
            raise _cannot_separate()
        pos += len(rendered)
        if rendered:
            tokens += backend.tokenize(rendered, add_special=False, parse_special=False)
    if pos != len(text):
        raise _cannot_separate()
    return text, tokens


def _holds_control_text(content: Any, backend: Backend) -> bool:
    if not isinstance(content, str) or not content or not backend.may_hold_control_text(content):
        return False
    return backend.tokenize(content, parse_special=True) != backend.tokenize(content, parse_special=False)


def _cannot_separate() -> InvalidRequest:
    return InvalidRequest(
        "a message holds the text of one of the model's control tokens (such as its turn markers), and "
        "this model's chat template changes message text in a way that keeps it from being kept as "
        "plain text; remove the control-token text from the message",
        param="messages",
    )
