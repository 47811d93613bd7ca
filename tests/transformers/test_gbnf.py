"""Bounded repetitions folded for llguidance: the same language, without the nesting it refuses."""

from __future__ import annotations

import pytest

from chuk_lazarus.backends.gbnf import schema_to_gbnf
from chuk_lazarus.backends.transformers.gbnf import flatten_repetitions


def test_nested_optionals_become_bounded_repetitions() -> None:
    assert flatten_repetitions('s ::= "\\"" (c (c (c)?)?)? "\\""') == 's ::= "\\"" (c){0,3} "\\""'
    # min items first, then separator-prefixed optionals (an array's maxItems)
    assert (
        flatten_repetitions('a ::= "[" (i ("," sp i ("," sp i)?)?)? "]"')
        == 'a ::= "[" (i ("," sp i){0,2})? "]"'
    )
    assert flatten_repetitions("d ::= [1-9] ([0-9] ([0-9])?)?") == "d ::= [1-9] ([0-9]){0,2}"
    # different items, or one optional, are left alone
    assert flatten_repetitions("x ::= (a (b)?)?") == "x ::= (a (b)?)?"
    assert flatten_repetitions('y ::= ("(" a)?') == 'y ::= ("(" a)?'


def test_long_strings_and_arrays_compile_and_keep_their_bounds(smollm2_hf_folder: object) -> None:
    pytest.importorskip("llguidance")
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_hf_folder))
    lltokenizer = llguidance.hf.from_tokenizer(
        tokenizer, n_vocab=len(tokenizer), eos_token=[tokenizer.eos_token_id]
    )
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 40},
            "tags": {"type": "array", "items": {"type": "integer"}, "maxItems": 40},
        },
        "required": ["name", "tags"],
    }
    grammar = llguidance.grammar_from("gbnf", flatten_repetitions(schema_to_gbnf(schema, param="schema")))

    def accepts(text: str) -> bool:
        matcher = llguidance.LLMatcher(lltokenizer, grammar)
        assert not matcher.is_error(), matcher.get_error()
        tokens = lltokenizer.tokenize_str(text)
        return matcher.try_consume_tokens(tokens) == len(tokens) and matcher.is_accepting()

    tags = ",".join(["1"] * 40)
    assert accepts('{"name":"' + "x" * 40 + '","tags":[' + tags + "]}")
    assert not accepts('{"name":"' + "x" * 41 + '","tags":[]}')
    assert not accepts('{"name":"x","tags":[]}')
    assert not accepts('{"name":"ab","tags":[' + tags + ",1]}")
