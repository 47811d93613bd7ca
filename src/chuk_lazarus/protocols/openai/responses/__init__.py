"""OpenAI's Responses API (`/v1/responses`): schemas, item conversion, renderer, store, routes.

A Responses request is one more endpoint of the openai protocol: its schema becomes a
`GenerationRequest`, its renderer turns the engine's events into Responses JSON and SSE events, and
`serving.pipeline.respond` does the rest, as for chat completions.
"""
