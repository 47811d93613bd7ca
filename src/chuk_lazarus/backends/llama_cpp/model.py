"""Loading a GGUF through llama.cpp's C API, and the vocabulary/metadata helpers around it."""

from __future__ import annotations

import ctypes
import logging
import warnings
from pathlib import Path
from typing import Any

import llama_cpp as C

from ...core.errors import ModelLoadError

log = logging.getLogger(__name__)

_GGUF_MAGIC = b"GGUF"


def _route_llama_logs() -> None:
    """Send llama.cpp's own logging to Python logging (debug), instead of flooding stderr."""
    llama_log = logging.getLogger("llama_cpp.native")

    @C.llama_log_callback  # type: ignore[untyped-decorator]
    def _callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            llama_log.debug(message)

    # The ctypes callback must outlive every call into llama.cpp; keep it on the module.
    globals()["_log_callback_ref"] = _callback
    C.llama_log_set(_callback, ctypes.c_void_p(0))


_backend_ready = False


def ensure_backend() -> None:
    global _backend_ready
    if not _backend_ready:
        _route_llama_logs()
        C.llama_backend_init()
        _backend_ready = True


def cpu_has_amx() -> bool:
    """Whether this CPU has Intel AMX tiles (Linux: the `amx_tile` flag in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def check_gguf_file(path: Path) -> None:
    """Fail with one clear line before llama.cpp sees a file that is not a GGUF."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != _GGUF_MAGIC:
        raise ModelLoadError(f"not a GGUF file (bad magic {magic!r}): {path}")


class LlamaModel:
    """Owns a `llama_model*` and its vocabulary; read-only after load, so safe to share across threads."""

    def __init__(self, path: Path) -> None:
        ensure_backend()
        check_gguf_file(path)
        params = C.llama_model_default_params()
        params.n_gpu_layers = 0
        if cpu_has_amx():
            # ggml's AMX weight buffers crash in `ggml_backend_amx_mul_mat` (SIGSEGV) on a many-row
            # batch of the embedded Q4_1 model, in llama-cpp-python 0.3.36 built on an AMX CPU (Xeon
            # Sapphire Rapids and later). Without extra buffer types the weights stay in plain CPU
            # buffers: the ordinary AVX-512 kernels, correct, at the cost of weight repacking.
            params.use_extra_bufts = False
        handle = C.llama_model_load_from_file(str(path).encode(), params)
        if not handle:
            raise ModelLoadError(f"llama.cpp could not load the model (corrupt or unsupported GGUF): {path}")
        self.path = path
        self.handle = handle
        self.vocab = C.llama_model_get_vocab(handle)
        self.n_vocab = C.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train = C.llama_model_n_ctx_train(handle)
        self._piece_cache: dict[int, bytes] = {}

    # -- metadata -------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        size = 256
        while True:
            buf = ctypes.create_string_buffer(size)
            n = C.llama_model_meta_val_str(self.handle, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def description(self) -> str:
        buf = ctypes.create_string_buffer(256)
        C.llama_model_desc(self.handle, buf, 256)
        return buf.value.decode("utf-8", errors="replace")

    @property
    def n_params(self) -> int:
        return int(C.llama_model_n_params(self.handle))

    # -- tokens ---------------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buf = (C.llama_token * capacity)()
        n = C.llama_tokenize(self.vocab, data, len(data), buf, capacity, add_special, parse_special)
        if n < 0:  # buffer too small: -n is the size needed
            capacity = -n
            buf = (C.llama_token * capacity)()
            n = C.llama_tokenize(self.vocab, data, len(data), buf, capacity, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """Bytes for one token. Cached: this is called once per generated token."""
        key = token if not special else -1 - token
        cached = self._piece_cache.get(key)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = C.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = C.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        out = buf.raw[:n]
        self._piece_cache[key] = out
        return out

    def control_texts(self) -> list[str]:
        """The texts that tokenizing with special parsing turns into control tokens, and that plain
        tokenizing leaves as text: llama.cpp's `tokenizer_st_partition` splits CONTROL and UNKNOWN
        tokens out only when parsing special tokens (USER_DEFINED ones it splits out either way)."""
        parsed_only = C.LLAMA_TOKEN_ATTR_CONTROL | C.LLAMA_TOKEN_ATTR_UNKNOWN
        out = []
        for token in range(self.n_vocab):
            if C.llama_vocab_get_attr(self.vocab, token) & parsed_only:
                out.append((C.llama_vocab_get_text(self.vocab, token) or b"").decode("utf-8", errors="replace"))
        return out

    def token_text(self, token: int) -> str:
        """A special token's text (e.g. "<|im_end|>"), for templates' bos/eos variables."""
        if token < 0:
            return ""
        return self.piece(token, special=True).decode("utf-8", errors="replace")

    def lltokenizer(self) -> Any:  # an llguidance.LLTokenizer
        """llguidance's view of this vocabulary, for constrained output (about 0.4 s for 50k tokens)."""
        from llguidance.llamacpp import lltokenizer_from_vocab

        eog = [t for t in range(self.n_vocab) if self.is_eog(t)]
        with warnings.catch_warnings():  # it calls a deprecated alias once per token
            warnings.simplefilter("ignore", DeprecationWarning)
            return lltokenizer_from_vocab(self.vocab, eos_token=eog or None)

    def is_eog(self, token: int) -> bool:
        return bool(C.llama_vocab_is_eog(self.vocab, token))

    @property
    def bos(self) -> int:
        return int(C.llama_vocab_bos(self.vocab))

    @property
    def eos(self) -> int:
        return int(C.llama_vocab_eos(self.vocab))

    def fim_tokens(self) -> tuple[int, int, int] | None:
        """Fill-in-the-middle prefix, suffix and middle tokens, when the vocabulary has all three."""
        v = self.vocab
        ids = (int(C.llama_vocab_fim_pre(v)), int(C.llama_vocab_fim_suf(v)), int(C.llama_vocab_fim_mid(v)))
        return ids if min(ids) >= 0 else None

    @property
    def adds_bos(self) -> bool:
        return bool(C.llama_vocab_get_add_bos(self.vocab))

    def close(self) -> None:
        if self.handle:
            C.llama_model_free(self.handle)
            self.handle = None
