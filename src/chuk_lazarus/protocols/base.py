"""What a protocol package hands the app: its routes, which paths it owns, how it renders errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from starlette.responses import Response

from . import Protocol


@dataclass(frozen=True)
class ProtocolSpec:
    protocol: Protocol
    router: APIRouter
    # Decides whose error shape a failing request gets (e.g. /v1/messages is Anthropic's, /v1/* OpenAI's).
    owns_path: Callable[[str], bool]
    # Renders any exception (typed `LazarusError`s by type; anything else as an internal error).
    error_response: Callable[[Exception], Response]
    # More specific owners are asked first: Anthropic's /v1/messages before OpenAI's /v1.
    priority: int = 0
