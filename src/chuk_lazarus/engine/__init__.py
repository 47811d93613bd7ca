"""The protocol-neutral engine: requests in, events out. Imports nothing from HTTP or protocols."""

from ..core.embedding import EmbeddingRequest, EmbeddingResult
from ..core.settings import ModelSettings
from ..core.types import (
    ChatMessage,
    Event,
    Finish,
    GenerationRequest,
    GenerationResult,
    LoadStats,
    ModelInfo,
    ReasoningControl,
    ReasoningDelta,
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
from .client import EngineClient, GenerationStream
from .engine import ModelEngine
from .generation import Generation, fold_events

__all__ = [
    "ChatMessage",
    "EmbeddingRequest",
    "EmbeddingResult",
    "EngineClient",
    "Event",
    "Finish",
    "Generation",
    "GenerationRequest",
    "GenerationResult",
    "GenerationStream",
    "LoadStats",
    "ModelEngine",
    "ModelInfo",
    "ModelSettings",
    "ReasoningControl",
    "ReasoningDelta",
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
