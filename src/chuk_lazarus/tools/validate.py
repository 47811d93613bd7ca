"""Refusing tool requests we cannot honour, before anything runs, with `param` naming the field.

Field names follow OpenAI's request shape (`tools[0].function.parameters`), the one most clients know.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from ..core.errors import InvalidRequest
from ..core.types import GenerationRequest

# Bounds on one schema (tool parameters, a response format), OpenAI's structured-output limits where it
# has them (5,000 properties, 1,000 enum values); deeper or larger schemas are a 400 before any grammar
# is built. The request body's own depth limit (64) comes first.
MAX_SCHEMA_DEPTH = 32  # nested JSON objects/arrays inside one schema
MAX_SCHEMA_PROPERTIES = 5_000  # property names, over the whole schema
MAX_SCHEMA_ENUM_VALUES = 1_000  # enum entries plus consts, over the whole schema
MAX_SCHEMA_NODES = 100_000  # objects, arrays and values, over the whole schema


def validate_request(request: GenerationRequest) -> None:
    seen: set[str] = set()
    for i, tool in enumerate(request.tools):
        if not tool.name or not tool.name.strip():
            raise InvalidRequest("a tool needs a name", param=f"tools[{i}].function.name")
        if tool.name in seen:
            raise InvalidRequest(f"two tools are named {tool.name!r}", param=f"tools[{i}].function.name")
        seen.add(tool.name)
        check_schema(tool.parameters, param=f"tools[{i}].function.parameters", want_object=True)
    _check_tool_choice(request, seen)
    if request.response_format.type == "json_schema" and request.response_format.schema is not None:
        check_schema(request.response_format.schema, param="response_format.json_schema.schema")
    _check_tool_messages(request)


def check_schema(schema: Any, *, param: str, want_object: bool = False) -> None:
    if not isinstance(schema, dict):
        raise InvalidRequest("the schema must be a JSON object", param=param)
    if want_object and schema.get("type", "object") != "object":
        raise InvalidRequest("function parameters must be a schema of type object", param=param)
    check_schema_size(schema, param=param)
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
        _check_refs(schema, schema, active=(), path=(), param=param)
    except SchemaError as exc:
        raise InvalidRequest(f"invalid JSON schema: {exc.message}", param=param) from None
    except RecursionError:  # a chain of thousands of $refs
        raise InvalidRequest("the schema's $refs nest too deeply", param=param) from None


def check_schema_size(schema: dict[str, Any], *, param: str) -> None:
    """The bounds above, checked without recursion."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    nodes = properties = enum_values = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_SCHEMA_DEPTH:
            raise InvalidRequest(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels", param=param)
        if nodes > MAX_SCHEMA_NODES:
            raise InvalidRequest(f"the schema has more than {MAX_SCHEMA_NODES} nodes", param=param)
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                properties += len(node["properties"])
            if isinstance(node.get("enum"), list):
                enum_values += len(node["enum"])
            enum_values += "const" in node
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
    if properties > MAX_SCHEMA_PROPERTIES:
        raise InvalidRequest(
            f"the schema has {properties} properties; at most {MAX_SCHEMA_PROPERTIES} are allowed", param=param
        )
    if enum_values > MAX_SCHEMA_ENUM_VALUES:
        raise InvalidRequest(
            f"the schema has {enum_values} enum/const values; at most {MAX_SCHEMA_ENUM_VALUES} are allowed",
            param=param,
        )


def _check_tool_choice(request: GenerationRequest, names: set[str]) -> None:
    choice = request.tool_choice
    if choice.mode in ("required", "function") and not request.tools:
        raise InvalidRequest(f"tool_choice {choice.mode!r} needs tools", param="tool_choice")
    if choice.mode == "function" and choice.function not in names:
        raise InvalidRequest(f"tool_choice names an unknown function {choice.function!r}", param="tool_choice")


def _check_tool_messages(request: GenerationRequest) -> None:
    earlier: set[str] = set()
    for i, message in enumerate(request.messages):
        earlier.update(call.id for call in message.tool_calls)
        # Some protocols (Ollama) send tool results without ids; those cannot be checked.
        if message.role == "tool" and message.tool_call_id is not None and message.tool_call_id not in earlier:
            raise InvalidRequest(
                f"tool message answers {message.tool_call_id!r}, which no earlier assistant message called",
                param=f"messages[{i}].tool_call_id",
            )


def _resolve(root: dict[str, Any], ref: str, param: str) -> Any:
    if not ref.startswith("#"):
        raise InvalidRequest(f"only local $refs are supported, not {ref!r}", param=param)
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise InvalidRequest(f"$ref {ref!r} points nowhere", param=param)
    return node


def _check_refs(
    root: dict[str, Any], node: Any, *, active: tuple[str, ...], path: tuple[str, ...], param: str
) -> None:
    """Reject a `$ref` cycle every step of which is mandatory: such a schema has no finite instance,
    so its grammar could never finish. `active` holds the refs entered since the last optional step
    (an optional property, a possibly-empty array, one of several alternatives); `path`, all of them."""
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in active:
            raise InvalidRequest(f"the schema is recursive without end through {ref!r}", param=param)
        if ref not in path:
            target = _resolve(root, ref, param)
            _check_refs(root, target, active=active + (ref,), path=path + (ref,), param=param)
    required = set(node.get("required", ()))
    for name, sub in (node.get("properties") or {}).items():
        _check_refs(root, sub, active=active if name in required else (), path=path, param=param)
    items = node.get("items")
    if isinstance(items, dict):
        mandatory = int(node.get("minItems", 0)) > 0
        _check_refs(root, items, active=active if mandatory else (), path=path, param=param)
    for key in ("anyOf", "oneOf"):
        branches = node.get(key) or []
        for sub in branches:
            _check_refs(root, sub, active=active if len(branches) == 1 else (), path=path, param=param)
    for sub in node.get("allOf") or []:
        _check_refs(root, sub, active=active, path=path, param=param)
