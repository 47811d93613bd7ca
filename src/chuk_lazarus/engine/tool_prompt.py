"""Tools for a model whose chat template has no tool support (SmolLM2, Gemma 3).

The definitions and the generic JSON call format (see `tools/generic.py`) go into the system prompt; earlier
assistant calls are rendered in that same format, and tool results as user turns, because such
templates often accept only system/user/assistant and Gemma's insists that user and assistant alternate.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.jsondepth import loads_bounded
from ..core.types import ChatMessage, ToolCall, ToolChoice, ToolDefinition
from .templates import message_to_dict

# How a tool result reaches a model that has no tool turns (measured by bench/agent_loops.py: which
# of these makes the model answer with the result instead of calling the tool again).
#   user_label   a user turn "Result of NAME:" and the result
#   user_nudge   the same, then "Use this result to answer my question."
#   json_result  a user turn {"tool_results": [{"name", "content"}]}, the calls' own format
#   restate      user_label, then the user's question again
#   restate_hint restate, and the system prompt says results come back as user turns
#   fold         the call's turn is left out; the user's turn says what was called and what it
#                returned ("add({"a": 2, "b": 3}) returned: 5")
#   fold_hint    fold, then "Answer with these results."
RESULT_STYLES = ("user_label", "user_nudge", "json_result", "restate", "restate_hint", "fold", "fold_hint")
# The one in use; bench/agent_loops.py sets each in turn to measure them (see the README for the rates).
RESULT_STYLE = "fold"

_FORMAT = '{"tool_calls": [{"name": "<function name>", "arguments": {<the arguments as a JSON object>}}]}'
_ANSWER = '{"response": "..."}'


def tools_system_prompt(
    tools: tuple[ToolDefinition, ...], choice: ToolChoice, parallel: bool, *, answers_in_json: bool = False
) -> str:
    """The system-prompt text teaching the call format; with `answers_in_json` (tool_choice=auto under
    the generic format's grammar), also the `{"response": ...}` form for answering directly."""
    listing = "\n".join(
        json.dumps(
            {"name": t.name, "description": t.description, "parameters": t.parameters}, ensure_ascii=False
        )
        for t in tools
    )
    if choice.mode == "function":
        when = f"You must call the function {choice.function} now. Reply with only this JSON:"
    elif choice.mode == "required":
        when = "You must call one of these functions now. Reply with only this JSON:"
    elif answers_in_json:
        when = "Reply with only JSON. To call functions:"
    else:
        when = "To call functions, reply with only this JSON and nothing else:"
    how_many = "" if parallel else " Call at most one function."
    text = f"You can call these functions:\n{listing}\n\n{when}\n{_FORMAT}{how_many}"
    if answers_in_json:
        # "…" rather than a <placeholder>: SmolLM2-135M copied "<your answer>" verbatim (measured).
        text += f"\nTo answer the user directly, write your answer as a JSON string:\n{_ANSWER}"
    elif choice.mode == "auto":
        text += "\nOtherwise, answer the user in plain text."
    return text


def calls_as_text(calls: tuple[ToolCall, ...]) -> str:
    """Earlier calls written the way the model was told to write them."""
    rendered = []
    for call in calls:
        try:
            arguments: Any = loads_bounded(call.arguments) if call.arguments else {}
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
            arguments = call.arguments
        rendered.append({"name": call.name, "arguments": arguments})
    return json.dumps({"tool_calls": rendered}, ensure_ascii=False)


def render_without_template_tools(
    messages: tuple[ChatMessage, ...], system_extra: str | None
) -> list[dict[str, Any]]:
    """Messages as plain system/user/assistant turns; `system_extra` (the tool instructions) is appended
    to the system prompt, or becomes one."""
    style = RESULT_STYLE
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    question = ""  # the user's last own words, for the styles that repeat them after results
    results: list[tuple[str, str]] = []  # (name, content) of the results since the last user text

    def flush_results() -> None:
        if results:
            _add_user_text(out, _results_text(results, style, question))
            results.clear()

    calls: dict[str, ToolCall] = {}
    answered = {m.tool_call_id for m in messages if m.role == "tool" and m.tool_call_id}
    for message in messages:
        if message.role == "tool":
            call = calls.get(message.tool_call_id or "")
            name = message.name or names.get(message.tool_call_id or "", "")
            if style.startswith("fold") and call is not None:
                name = f"{call.name}({call.arguments or '{}'})"
            results.append((name, message.content or ""))
            continue
        flush_results()
        if message.role == "assistant" and message.tool_calls:
            for call in message.tool_calls:
                names[call.id] = call.name
                calls[call.id] = call
            if style.startswith("fold") and all(c.id in answered for c in message.tool_calls):
                # The model is not shown its own call: a small model that sees one copies it.
                if message.content:
                    out.append({"role": "assistant", "content": message.content})
                continue
            content = calls_as_text(message.tool_calls)
            if message.content:
                content = f"{message.content}\n{content}"
            out.append({"role": "assistant", "content": content})
        elif message.role == "user":
            question = message.content or ""
            _add_user_text(out, question)
        else:
            out.append(message_to_dict(message))
    flush_results()
    if system_extra and style == "restate_hint":
        system_extra += "\nFunction results come back to you as a user message; then answer the user with them."
    if system_extra:
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{system_extra}".lstrip()}
        else:
            out.insert(0, {"role": "system", "content": system_extra})
    return out


def _results_text(results: list[tuple[str, str]], style: str, question: str) -> str:
    if style == "json_result":
        items = []
        for name, content in results:
            try:
                value: Any = json.loads(content)
            except json.JSONDecodeError:
                value = content
            items.append({"name": name, "content": value})
        return json.dumps({"tool_results": items}, ensure_ascii=False)
    if style.startswith("fold"):
        text = "\n".join(f"{name} returned: {content}" for name, content in results)
        return text + ("\nAnswer with these results." if style == "fold_hint" else "")
    parts = [f"{f'Result of {name}' if name else 'Tool result'}:\n{content}" for name, content in results]
    text = "\n\n".join(parts)
    if style == "user_nudge":
        text += "\n\nUse this result to answer my question."
    elif style in ("restate", "restate_hint") and question:
        text += f"\n\nWith this, answer my question: {question}"
    return text


def _add_user_text(out: list[dict[str, Any]], text: str) -> None:
    # Consecutive user turns (several tool results, then the user's next question) become one.
    if out and out[-1]["role"] == "user":
        out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n\n{text}"}
    else:
        out.append({"role": "user", "content": text})
