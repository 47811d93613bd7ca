"""Wire protocols. Each is one folder (schemas, router, render, errors) exposing a `ProtocolSpec`."""

from __future__ import annotations

from enum import Enum


class Protocol(str, Enum):
    OPENAI = "openai"
    OLLAMA = "ollama"
    ANTHROPIC = "anthropic"

    @classmethod
    def parse_list(cls, text: str) -> list[Protocol]:
        """`"openai,ollama"` -> [OPENAI, OLLAMA]; unknown names raise ValueError naming the choices."""
        names = [part.strip().lower() for part in text.split(",") if part.strip()]
        if not names:
            raise ValueError("no protocol given; choose from: " + ", ".join(p.value for p in cls))
        known = {p.value: p for p in cls}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"unknown protocol {', '.join(repr(u) for u in unknown)}; choose from: "
                + ", ".join(p.value for p in cls)
            )
        return list(dict.fromkeys(known[n] for n in names))


__all__ = ["Protocol"]
