"""`lazarus serve` / `lazarus-serve`: a thin shell over `ServerSettings`, `ModelSettings`, `ModelEngine`
and `create_app`.

Every option is generated from a field of the two settings models: flag `--{name}` (`_` -> `-`),
variable `LAZARUS_{NAME}`, help from the field's description and default, a switch for a boolean, the
choices of a `Literal`, and a short flag from the field's `json_schema_extra["short"]`. Values are
validated by the models themselves; this module only routes them and names the option on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic.fields import FieldInfo

    from .core.settings import ModelSettings
    from .engine import ModelEngine
    from .server.settings import ServerSettings

BANNER_RULE = "=" * 60
# On SIGTERM, how long requests in flight may take to finish before the server stops anyway.
DRAIN_TIMEOUT_S = 30.0
ENV_PREFIX = "LAZARUS_"
# Request line plus headers, at most (h11's default, stated in the README): larger is a 400 from uvicorn.
MAX_HEADER_BYTES = 16 * 1024
_ENV_NOTE = (
    "Every option can also be set by an environment variable LAZARUS_<NAME> (e.g. LAZARUS_API_KEY); "
    "a flag wins over the variable."
)


def _models() -> tuple[type[ServerSettings], type[ModelSettings]]:
    from .core.settings import ModelSettings
    from .server.settings import ServerSettings

    return ServerSettings, ModelSettings


def flag_for(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_for(name: str) -> str:
    return ENV_PREFIX + name.upper()


def option_fields() -> dict[str, FieldInfo]:
    """Every option `lazarus serve` has, by field name: the server's first, then the model's."""
    server, model = _models()
    clash = server.model_fields.keys() & model.model_fields.keys()
    if clash:  # one flag cannot feed two fields; catch a rename here, not as a silently ignored value
        raise RuntimeError(f"settings fields defined twice: {sorted(clash)}")
    return {**server.model_fields, **model.model_fields}


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _choices(field: FieldInfo) -> tuple[str, ...] | None:
    if typing.get_origin(field.annotation) is typing.Literal:
        return tuple(str(c) for c in typing.get_args(field.annotation))
    return None


def default_text(field: FieldInfo) -> str | None:
    """The default as `--help` shows it; None when the description itself says what unset means."""
    default = field.get_default(call_default_factory=True)
    if default is None:
        return None
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, list | tuple):
        return ",".join(_plain(v) for v in default)
    if isinstance(default, float):
        return f"{default:g}"
    return _plain(default)


def _plain(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _help_for(field: FieldInfo) -> str:
    text = field.description or ""
    shown = default_text(field)
    if shown is not None:
        text = f"{text} (default: {shown})"
    return text.replace("%", "%%")  # argparse %-formats help strings


def _metavar(name: str, field: FieldInfo) -> str:
    choices = _choices(field)
    if choices:  # shown as argparse shows `choices=`; the model, not argparse, checks them
        return "{" + ",".join(choices) + "}"
    if "metavar" in _extra(field):
        return str(_extra(field)["metavar"])
    # `int | None` is still a count: strip the None that only means "unset".
    kinds = [t for t in typing.get_args(field.annotation) or (field.annotation,) if t is not type(None)]
    return "N" if kinds == [int] else name.upper()


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    server, model = _models()
    # Also on `lazarus serve`, so the README's options table holds for both spellings of the command.
    parser.add_argument("--version", action="version", version=f"lazarus {__version__}")
    groups = [
        (parser.add_argument_group("server options"), server.model_fields),
        (parser.add_argument_group("model options"), model.model_fields),
    ]
    for group, fields in groups:
        for name, field in fields.items():
            short = _extra(field).get("short")
            names = [flag_for(name), short] if short else [flag_for(name)]
            # SUPPRESS: an absent flag leaves no value, so the variable, then the field default, applies.
            common: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": _help_for(field)}
            if field.annotation is bool:
                group.add_argument(*names, action="store_true", **common)
            elif _extra(field).get("repeat"):  # each use adds one more value (the field splits commas too)
                group.add_argument(*names, action="append", metavar=_metavar(name, field), **common)
            else:
                group.add_argument(*names, metavar=_metavar(name, field), **common)


def _build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """`lazarus` and its `serve` subcommand (whose errors show `lazarus serve`'s usage)."""
    parser = argparse.ArgumentParser(prog="lazarus", description="Lazarus: local LLM inference server")
    parser.add_argument("--version", action="version", version=f"lazarus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP (OpenAI, Ollama, Anthropic protocols)",
        description=_ENV_NOTE,
    )
    _add_serve_arguments(serve)
    mcp = commands.add_parser(
        "mcp-config",
        help="print the chuk-llm / mcp-cli provider entry for the model `lazarus serve` would serve",
        description="Print a chuk-llm provider entry (YAML) named 'lazarus' for the server these options "
        "describe, for `mcp-cli chat --provider lazarus`. Loads nothing. " + _ENV_NOTE,
    )
    _add_mcp_config_arguments(mcp)
    return parser, serve


# The serve options that decide what a client connects to (the rest do not change the entry).
MCP_CONFIG_FIELDS = ("model", "served_model_name", "host", "port")


def _add_mcp_config_arguments(parser: argparse.ArgumentParser) -> None:
    server, _ = _models()
    for name in MCP_CONFIG_FIELDS:
        field = server.model_fields[name]
        short = _extra(field).get("short")
        names = [flag_for(name), short] if short else [flag_for(name)]
        parser.add_argument(
            *names, dest=name, default=argparse.SUPPRESS, metavar=_metavar(name, field), help=_help_for(field)
        )


def _mcp_config(parser: argparse.ArgumentParser, parsed: Mapping[str, Any], environ: Mapping[str, str]) -> int:
    from pydantic import ValidationError

    from .mcp_config import provider_entry, provider_yaml
    from .models.resolve import served_name

    values, origins = collect(parsed, environ)
    server, _ = _models()
    try:
        settings = server.model_validate({k: v for k, v in values.items() if k in MCP_CONFIG_FIELDS})
    except ValidationError as exc:
        parser.error(_describe(exc, origins))
    model = settings.served_model_name or served_name(settings.model)
    sys.stdout.write(provider_yaml(provider_entry(model=model, host=settings.host, port=settings.port)))
    return 0


def _serve_parser() -> argparse.ArgumentParser:
    description = f"Serve a model over HTTP. {_ENV_NOTE}"
    parser = argparse.ArgumentParser(prog="lazarus-serve", description=description)
    _add_serve_arguments(parser)
    return parser


def collect(parsed: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw option values (flag, else `LAZARUS_*` variable) and, for each, where it came from."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name in option_fields():
        if name in parsed:
            values[name], origins[name] = parsed[name], flag_for(name)
        # An empty variable counts as unset: `LAZARUS_API_KEY=` must not require the key "".
        elif environ.get(env_for(name), "") != "":
            values[name] = environ[env_for(name)]
            origins[name] = f"{flag_for(name)} (from {env_for(name)})"
    return values, origins


def build_settings(values: Mapping[str, Any]) -> tuple[ServerSettings, ModelSettings]:
    """Validate raw values into the two models; raises pydantic's `ValidationError`."""
    server, model = _models()
    chosen = (
        server.model_validate({k: v for k, v in values.items() if k in server.model_fields}),
        model.model_validate({k: v for k, v in values.items() if k in model.model_fields}),
    )
    if chosen[1].tool_parser is not None:
        from .tools import get_parser

        get_parser(chosen[1].tool_parser)  # ValueError naming the choices (the registry lives in tools/)
    if chosen[1].engine_arg:
        check_engine_args(chosen[1])
    return chosen


class EngineArgError(ValueError):
    """A bad --engine-arg (reported on that flag)."""


def check_engine_args(model: ModelSettings) -> None:
    """--engine-arg is vLLM's: refused with another backend, and each KEY checked against vLLM's engine
    arguments (imports vLLM, only when the flag is given)."""
    if model.backend != "vllm":
        raise EngineArgError("only the vllm backend takes engine arguments (add --backend vllm)")
    from .backends.vllm.loading import check_engine_args as check

    try:
        check(model.engine_arg or [])
    except ValueError as exc:
        raise EngineArgError(str(exc)) from None


def _settings(
    parser: argparse.ArgumentParser, parsed: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[ServerSettings, ModelSettings]:
    from pydantic import ValidationError

    values, origins = collect(parsed, environ)
    try:
        return build_settings(values)
    except ValidationError as exc:
        parser.error(_describe(exc, origins))
    except EngineArgError as exc:
        parser.error(f"{origins.get('engine_arg', flag_for('engine_arg'))}: {exc}")
    except ValueError as exc:  # an unknown --tool-parser
        parser.error(f"{origins.get('tool_parser', flag_for('tool_parser'))}: {exc}")


def _describe(exc: ValidationError, origins: Mapping[str, str]) -> str:
    """The first problem, as `--flag: message` (exit 2 via `parser.error`, as argparse's own errors)."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    message = first["msg"]
    error = first.get("ctx", {}).get("error")
    if first["type"] == "value_error" and error is not None:
        message = str(error)  # our validators' own sentence, without pydantic's "Value error, " prefix
    elif first["type"] == "literal_error" and name in option_fields():
        choices = _choices(option_fields()[name]) or ()
        message = f"unknown {first['input']!r}; choose from: {', '.join(choices)}"
    return f"{origins.get(name, flag_for(name))}: {message}"


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[ServerSettings, ModelSettings]:
    """What `lazarus-serve ARGV` would serve, without serving it (exits 2 on a bad option)."""
    parser = _serve_parser()
    return _settings(parser, vars(parser.parse_args(argv)), os.environ if environ is None else environ)


def main(argv: Sequence[str] | None = None) -> int:
    parser, serve = _build_parser()
    args = vars(parser.parse_args(argv))
    command = args.pop("command", None)
    if command == "mcp-config":
        return _mcp_config(parser, args, os.environ)
    if command != "serve":
        parser.print_help()
        return 2
    return _serve(*_settings(serve, args, os.environ))


def serve_main(argv: Sequence[str] | None = None) -> int:
    return _serve(*parse_settings(argv))


def _serve(settings: ServerSettings, model_settings: ModelSettings) -> int:
    from .serving.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(_run(settings, model_settings))
    except KeyboardInterrupt:
        return 130


async def _load_engine(settings: ServerSettings, model_settings: ModelSettings) -> ModelEngine:
    from .engine import ModelEngine

    return await ModelEngine.load(
        settings.model, served_name=settings.served_model_name, settings=model_settings
    )


async def _run(settings: ServerSettings, model_settings: ModelSettings) -> int:
    """Bind the port at once (probes answer 503 `loading`), load the model, then serve it."""
    import uvicorn

    from .core.errors import LazarusError
    from .server import attach_engine, create_app
    from .server.guards import is_loopback
    from .server.http import header_deadline_protocol
    from .server.shutdown import DrainingServer

    app = create_app(
        None,
        protocols=settings.protocols,
        api_key=settings.api_key,
        default_max_tokens=settings.max_tokens,
        max_body_bytes=settings.max_body_bytes,
        responses_store_max=settings.responses_store_max,
        responses_store_ttl=settings.responses_store_ttl,
        body_timeout_s=settings.body_timeout,
        allowed_hosts=(settings.allowed_hosts or []) if is_loopback(settings.host) or settings.allowed_hosts else None,
        cors_origins=settings.cors_origins or (),
        metrics=not settings.no_metrics,
        metrics_public=settings.metrics_public,
    )
    if not is_loopback(settings.host) and not settings.api_key:
        logging.getLogger("chuk_lazarus").warning(
            "serving on %s without --api-key: anyone who can reach this address can use the model",
            settings.host,
        )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's loggers go through ours (serving/logs.py), JSON included
        access_log=False,  # ours is one line per request with its tokens and timings (serving/tracking.py)
        timeout_graceful_shutdown=30,
        # The limits the README states: uvicorn's h11 parser, plus a deadline for the request head.
        http=header_deadline_protocol(settings.header_timeout),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_timeout,
    )
    # SIGTERM: refuse new requests (503), finish those in flight, then exit 0.
    server = DrainingServer(config, state=app.state, drain_timeout=DRAIN_TIMEOUT_S)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if not server.started:  # the port could not be bound (uvicorn said why)
        await serving
        return 1
    print(f"Loading model: {settings.model or 'embedded SmolLM2-135M-Instruct'}", flush=True)
    engine = None
    try:
        try:
            engine = await _load_engine(settings, model_settings)
        except BaseException as exc:
            server.should_exit = True  # nothing to serve: stop listening, then say why
            await serving
            if not isinstance(exc, LazarusError):
                raise
            print(f"error: {exc.message}", file=sys.stderr, flush=True)
            return 1
        if server.should_exit:  # stopped while loading
            await serving
            return 0
        attach_engine(app, engine)
        _print_banner(engine, settings)
        await serving
        return 0
    finally:
        if engine is not None:
            await engine.aclose()


def _print_banner(engine: ModelEngine, settings: ServerSettings) -> None:
    info = engine.info
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        BANNER_RULE,
        f"  Backend   : {info.backend} ({info.path})",
        f"  Context   : {info.context_length} tokens per sequence, {info.extra.get('parallel', 1)} in parallel",
        BANNER_RULE,
        "Lazarus inference server ready",
        f"  Model     : {engine.model_name}",
        f"  Protocols : {','.join(p.value for p in settings.protocols)}",
        f"  Base URL  : {base}",
    ]
    urls = {"openai": ("OpenAI URL", f"{base}/v1"), "ollama": ("Ollama URL", base),
            "anthropic": ("Anthropic URL", base)}  # fmt: skip
    for protocol in settings.protocols:
        label, url = urls[protocol.value]
        lines.append(f"  {label:<10}: {url}")
    if settings.api_key:
        lines.append("  Auth      : API key required (except /health)")
    lines.append(BANNER_RULE)
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
