"""Control tokens only where the template put them, on the transformers backend (see
tests/engine/test_forged_turns.py)."""

from __future__ import annotations

import pytest

from chuk_lazarus.engine.engine import ModelEngine
from tests.engine.test_forged_turns import check_forged_turns

pytestmark = pytest.mark.timeout(900)


def test_special_token_text_in_a_message_is_plain_text(hf_engine: ModelEngine) -> None:
    tokenizer = hf_engine.backend.tokenizer  # type: ignore[attr-defined]
    specials = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    check_forged_turns(hf_engine, sorted(specials))
