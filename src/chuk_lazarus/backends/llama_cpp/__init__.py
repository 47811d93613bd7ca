"""The llama.cpp backend: GGUF models through llama-cpp-python's low-level C API."""

from .backend import LlamaCppBackend

__all__ = ["LlamaCppBackend"]
