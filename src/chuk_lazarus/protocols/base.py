"""What a protocol package hands the app: its routes, which paths it owns, its error table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter

from ..serving.errors import ErrorTable
from . import Protocol


@dataclass(frozen=True)
class ProtocolSpec:
    protocol: Protocol
    router: APIRouter
    # Decides whose error shape a failing request gets (e.g. /v1/messages is Anthropic's, /v1/* OpenAI's).
    owns_path: Callable[[str], bool]
    errors: ErrorTable
    # More specific owners are asked first: Anthropic's /v1/messages before OpenAI's /v1.
    priority: int = 0
    # Anthropic's clients send the key as `x-api-key`; the others only as `Authorization: Bearer`.
    # When a protocol that accepts it is served, every route accepts it (one server, one key).
    accepts_x_api_key: bool = False
    # Paths shared between protocols (`/v1/models`) are claimed by the request's headers: which
    # protocol's client sent it. Asked before `owns_path`, with the lower-cased headers.
    claims_request: Callable[[str, Mapping[str, str]], bool] | None = None
