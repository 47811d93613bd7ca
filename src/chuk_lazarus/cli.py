"""`lazarus serve` / `lazarus-serve`: a thin shell over `ServeSettings`, `ModelEngine` and `create_app`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

BANNER_RULE = "=" * 60
# On SIGTERM, how long requests in flight may take to finish before the server stops anyway.
DRAIN_TIMEOUT_S = 30.0

# flag -> (ServeSettings field, short flag or None, metavar)
_FLAGS: list[tuple[str, str, str | None, str]] = [
    ("--model", "model", "-m", "MODEL"),
    ("--host", "host", None, "HOST"),
    ("--port", "port", "-p", "PORT"),
    ("--protocols", "protocols", None, "LIST"),
    ("--api-key", "api_key", None, "KEY"),
    ("--max-tokens", "max_tokens", None, "N"),
    ("--served-model-name", "served_model_name", None, "NAME"),
    ("--backend", "backend", None, "NAME"),
    ("--ctx-size", "ctx_size", "-c", "N"),
    ("--parallel", "parallel", "-np", "N"),
    ("--threads", "threads", "-t", "N"),
    ("--batch-size", "batch_size", "-b", "N"),
    ("--max-queue", "max_queue", None, "N"),
    ("--tool-parser", "tool_parser", None, "NAME"),
    ("--device", "device", None, "DEVICE"),
    ("--dtype", "dtype", None, "DTYPE"),
    ("--trust-remote-code", "trust_remote_code", None, ""),
    ("--allow-pickle", "allow_pickle", None, ""),
    ("--max-body-mb", "max_body_mb", None, "MIB"),
    ("--log-level", "log_level", None, "LEVEL"),
]


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from .server.settings import ServeSettings

    fields = ServeSettings.model_fields
    for flag, name, short, metavar in _FLAGS:
        field = fields[name]
        default = field.default
        help_text = f"{field.description} (default: {default})" if default is not None else field.description
        names = [flag, short] if short else [flag]
        if field.annotation is bool:  # a switch: present means on
            parser.add_argument(*names, dest=name, action="store_true", default=argparse.SUPPRESS, help=field.description)
            continue
        parser.add_argument(*names, dest=name, metavar=metavar, default=argparse.SUPPRESS, help=help_text)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lazarus", description="Lazarus: local LLM inference server")
    parser.add_argument("--version", action="version", version=f"lazarus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve a model over HTTP (OpenAI, Ollama, Anthropic protocols)")
    _add_serve_arguments(serve)
    return parser


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lazarus-serve", description="Serve a model over HTTP")
    parser.add_argument("--version", action="version", version=f"lazarus {__version__}")
    _add_serve_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help()
        return 2
    return _serve(vars(args), parser)


def serve_main(argv: Sequence[str] | None = None) -> int:
    parser = _serve_parser()
    return _serve(vars(parser.parse_args(argv)), parser)


def _serve(raw: dict[str, Any], parser: argparse.ArgumentParser) -> int:
    from pydantic import ValidationError

    from .protocols import Protocol
    from .server.settings import ServeSettings

    raw.pop("command", None)
    try:
        settings = ServeSettings(**raw)
        protocols = Protocol.parse_list(settings.protocols)
    except ValidationError as exc:
        first = exc.errors()[0]
        parser.error(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")
    except ValueError as exc:
        parser.error(f"--protocols: {exc}")
    from .tools import available_parsers

    if settings.tool_parser is not None and settings.tool_parser not in available_parsers():
        parser.error(f"--tool-parser: unknown '{settings.tool_parser}'; choose from: {', '.join(available_parsers())}")
    if settings.backend not in ("auto", "llama.cpp", "transformers"):
        parser.error(f"--backend: unknown '{settings.backend}'; choose from: auto, llama.cpp, transformers")
    level = settings.log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        parser.error(f"--log-level: unknown level '{settings.log_level}'")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_run(settings, protocols))
    except KeyboardInterrupt:
        return 130


async def _run(settings: Any, protocols: list[Any]) -> int:
    import uvicorn

    from .engine import EngineSettings, ModelEngine
    from .engine.errors import LazarusError
    from .server import create_app

    print(f"Loading model: {settings.model or 'embedded SmolLM2-135M-Instruct'}", flush=True)
    try:
        engine = await ModelEngine.load(
            settings.model,
            served_name=settings.served_model_name,
            settings=EngineSettings(
                backend=settings.backend,
                context_length=settings.ctx_size,
                parallel=settings.parallel,
                threads=settings.threads,
                batch_size=settings.batch_size,
                max_queue=settings.max_queue,
                tool_parser=settings.tool_parser,
                device=settings.device,
                dtype=settings.dtype,
                trust_remote_code=settings.trust_remote_code,
                allow_pickle=settings.allow_pickle,
            ),
        )
    except LazarusError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 1
    try:
        app = create_app(
            engine,
            protocols=protocols,
            api_key=settings.api_key,
            default_max_tokens=settings.max_tokens,
            max_body_bytes=int(settings.max_body_mb * 1024 * 1024),
        )
        if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
            logging.getLogger("chuk_lazarus").warning(
                "serving on %s without --api-key: anyone who can reach this address can use the model",
                settings.host,
            )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=30,
        )
        from .server.shutdown import DrainingServer

        # SIGTERM: refuse new requests (503), finish those in flight, then exit 0.
        server = DrainingServer(config, state=app.state, engine=engine, drain_timeout=DRAIN_TIMEOUT_S)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            _print_banner(engine, settings, protocols)
        await serving
        return 0 if server.started else 1
    finally:
        await engine.aclose()


def _print_banner(engine: Any, settings: Any, protocols: list[Any]) -> None:
    info = engine.info
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        BANNER_RULE,
        f"  Backend   : {info.backend} ({info.path})",
        f"  Context   : {info.context_length} tokens per sequence, {info.extra.get('parallel', 1)} in parallel",
        BANNER_RULE,
        "Lazarus inference server ready",
        f"  Model     : {engine.model_name}",
        f"  Protocols : {','.join(p.value for p in protocols)}",
        f"  Base URL  : {base}",
    ]
    urls = {"openai": ("OpenAI URL", f"{base}/v1"), "ollama": ("Ollama URL", base),
            "anthropic": ("Anthropic URL", base)}  # fmt: skip
    for protocol in protocols:
        label, url = urls[protocol.value]
        lines.append(f"  {label:<10}: {url}")
    if settings.api_key:
        lines.append("  Auth      : API key required (except /health)")
    lines.append(BANNER_RULE)
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
