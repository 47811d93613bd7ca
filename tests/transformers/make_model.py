"""Make a real safetensors HF model folder without the network, from the embedded SmolLM2 GGUF.

transformers' GGUF loader dequantizes the GGUF into a model, but a GGUF-loaded model refuses
`save_pretrained`; so build a fresh model from its config, load the state dict into it and save
that, with the tokenizer (which carries the chat template). The folder is made once and cached.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

FOLDER_NAME = "smollm2-135m-instruct-hf"
_STAMP = "lazarus-fixture.json"


def _stamp(gguf: Path) -> dict[str, object]:
    import transformers

    return {"gguf": str(gguf), "gguf_mtime": gguf.stat().st_mtime, "transformers": transformers.__version__}


def smollm2_hf_folder(root: Path, *, any_transformers: bool = False) -> Path:
    """The folder under `root`, built on first use (about 20 s) and reused while its sources are unchanged
    (`any_transformers`: whichever transformers version built it)."""
    from chuk_lazarus.models.embedded import embedded_gguf_path

    gguf = embedded_gguf_path()  # the 16-bit copy llama.cpp serves by default: the same weights
    target = root / FOLDER_NAME
    stamp = target / _STAMP
    if stamp.is_file():
        found, wanted = json.loads(stamp.read_text()), _stamp(gguf)
        if any_transformers:
            found.pop("transformers", None)
            wanted.pop("transformers", None)
        if found == wanted:
            return target
    partial = root / f"{FOLDER_NAME}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    build(gguf, partial)
    (partial / _STAMP).write_text(json.dumps(_stamp(gguf)))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)  # whole folder at once: a concurrent run never sees half of it
    return target


def build(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # The GGUF origin is recorded as a quantization config; the saved folder is plain float32.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    out.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    saved = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in saved, "the saved folder must not claim to be a GGUF"
