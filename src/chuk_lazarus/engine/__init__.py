"""The protocol-neutral engine: requests in, events out. Imports nothing from HTTP or protocols."""

from .engine import EngineSettings, EventStream, ModelEngine, fold_events
from .types import (
    ChatMessage,
    Event,
    Finish,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    ResponseFormat,
    SamplingParams,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallStart,
    ToolChoice,
    ToolDefinition,
    Usage,
)

__all__ = [
    "ChatMessage",
    "EngineSettings",
    "EventStream",
    "Event",
    "Finish",
    "GenerationRequest",
    "GenerationResult",
    "ModelEngine",
    "ModelInfo",
    "ResponseFormat",
    "SamplingParams",
    "TextDelta",
    "ToolCall",
    "ToolCallArgsDelta",
    "ToolCallStart",
    "ToolChoice",
    "ToolDefinition",
    "Usage",
    "fold_events",
]
