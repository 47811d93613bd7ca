"""Reading a model's own sampling defaults from what it ships."""

from __future__ import annotations

from transformers import GenerationConfig

from chuk_lazarus.backends.sampling_defaults import from_generation_config, from_gguf
from chuk_lazarus.models.resolve import resolve_model


def test_gguf_sampling_keys() -> None:
    meta = {"general.sampling.temp": "0.6", "general.sampling.top_k": "20", "general.sampling.top_p": "0.95",
            "general.sampling.min_p": "nan", "general.other": "1"}  # fmt: skip
    assert from_gguf(meta.get) == {"temperature": 0.6, "top_k": 20.0, "top_p": 0.95}


def test_generation_config_gives_only_what_it_sets() -> None:
    config = GenerationConfig(temperature=0.7, top_p=0.8, repetition_penalty=1.05, do_sample=True)
    assert from_generation_config(config) == {"temperature": 0.7, "top_p": 0.8, "repeat_penalty": 1.05}
    assert from_generation_config(GenerationConfig()) == {}  # library defaults are not the model's
    assert from_generation_config(None) == {}


def test_the_embedded_model_ships_greedy() -> None:
    assert resolve_model(None).sampling_defaults == {"temperature": 0.0}
