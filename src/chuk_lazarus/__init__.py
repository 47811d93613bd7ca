"""chuk-lazarus: one local model served over the OpenAI, Ollama and Anthropic wire protocols."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chuk-lazarus")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
