"""`lazarus serve` options are generated from `ServerSettings` + `ModelSettings`; no server is started."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from chuk_lazarus import cli
from chuk_lazarus.core.errors import ModelLoadError
from chuk_lazarus.core.settings import ModelSettings
from chuk_lazarus.protocols import Protocol
from chuk_lazarus.server.settings import ServerSettings

README = Path(__file__).resolve().parents[2] / "README.md"
ALL_FIELDS = [*ServerSettings.model_fields, *ModelSettings.model_fields]


def _help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: Sequence[str],
          entry: Callable[[Sequence[str]], int]) -> str:  # fmt: skip
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no wrapping inside a default
    with pytest.raises(SystemExit) as info:
        entry(argv)
    assert info.value.code == 0
    return capsys.readouterr().out


def _entries(text: str) -> list[str]:
    """One string per option of `--help`: its flags, then its help (argparse may put it a line below)."""
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("  -"):
            entries.append(line.strip())
        elif entries and line.startswith("   "):
            entries[-1] += " " + line.strip()
    return entries


def _shown_default(name: str) -> str:
    """The default `--help` shows for a field: its value, or what the description says unset means."""
    field = cli.option_fields()[name]
    shown = cli.default_text(field)
    if shown is None:
        found = re.search(r"\(default: ([^)]*)\)$", field.description or "")
        assert found, f"{name}: a None default must say what unset means, as '(default: …)'"
        shown = found.group(1)
    return shown


@pytest.mark.parametrize(("entry", "argv"), [(cli.main, ["serve", "--help"]), (cli.serve_main, ["--help"])])
def test_every_field_has_a_documented_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    entry: Callable[[Sequence[str]], int], argv: list[str],
) -> None:  # fmt: skip
    text = _help(capsys, monkeypatch, argv, entry)
    assert "--version" in text
    for name in ALL_FIELDS:
        field = cli.option_fields()[name]
        line = next((e for e in _entries(text) if re.match(rf"{cli.flag_for(name)}\b", e)), None)
        assert line is not None, f"{cli.flag_for(name)} missing from --help"
        assert f"(default: {_shown_default(name)})" in line, line
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        short = extra.get("short")
        if short:
            assert re.search(rf"{short}\b", line), line


def test_short_flags_and_literal_choices_are_in_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _help(capsys, monkeypatch, ["--help"], cli.serve_main)
    for short in ("-m", "-p", "-c", "-np", "-t", "-b"):
        assert re.search(rf"\s{short}( |,)", text), short
    assert "{auto,llama.cpp,transformers,vllm}" in text
    assert "{mp,ray}" in text
    assert "{debug,info,warning,error}" in text
    assert "{auto,float32,float16,bfloat16}" in text


def test_readme_options_table_matches_help() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## `lazarus serve` options", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `-")]
    documented: dict[str, str] = {}
    for row in rows:
        options, default = (cell.strip() for cell in row.strip("|").split("|")[:2])
        flags = re.findall(r"`(-[-\w]+)`", options)
        documented[flags[0]] = default.replace("`", "")
        for short in flags[1:]:
            documented[short] = documented[flags[0]]
    expected = {"--version": ""}
    for name, field in cli.option_fields().items():
        expected[cli.flag_for(name)] = _shown_default(name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("short"):
            expected[str(extra["short"])] = _shown_default(name)
    assert documented == expected


def test_flag_env_and_field_names_are_derived() -> None:
    assert cli.flag_for("served_model_name") == "--served-model-name"
    assert cli.env_for("served_model_name") == "LAZARUS_SERVED_MODEL_NAME"
    assert not ServerSettings.model_fields.keys() & ModelSettings.model_fields.keys()


def test_defaults() -> None:
    server, model = cli.parse_settings([], {})
    assert server == ServerSettings.model_validate({}) and model == ModelSettings.model_validate({})
    assert server.protocols == [Protocol.OPENAI] and server.max_body_bytes == 16 * 1024 * 1024


def test_environment_variable_is_read() -> None:
    environ = {"LAZARUS_PARALLEL": "3", "LAZARUS_PROTOCOLS": "openai,ollama",
               "LAZARUS_TRUST_REMOTE_CODE": "1", "LAZARUS_API_KEY": "k"}  # fmt: skip
    server, model = cli.parse_settings([], environ)
    assert model.parallel == 3 and model.trust_remote_code is True
    assert server.protocols == [Protocol.OPENAI, Protocol.OLLAMA] and server.api_key == "k"


def test_environment_is_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZARUS_PARALLEL", "3")
    monkeypatch.setenv("LAZARUS_LOG_LEVEL", "WARNING")
    server, model = cli.parse_settings([])
    assert model.parallel == 3 and server.log_level == "warning"


def test_empty_variable_is_unset() -> None:
    server, _ = cli.parse_settings([], {"LAZARUS_API_KEY": "", "LAZARUS_PORT": ""})
    assert server.api_key is None and server.port == 8080


@pytest.mark.parametrize("argv", [["--parallel", "5"], ["-np", "5"]])
def test_flag_beats_variable(argv: list[str]) -> None:
    _, model = cli.parse_settings(argv, {"LAZARUS_PARALLEL": "3"})
    assert model.parallel == 5


def test_all_flags_parse() -> None:
    argv = ["-m", "x.gguf", "--served-model-name", "alias", "--host", "0.0.0.0", "-p", "9000",
            "--protocols", "anthropic", "--api-key", "k", "--max-tokens", "64", "--max-body-mb", "0.5",
            "--responses-store-max", "10", "--responses-store-ttl", "60", "--log-level", "debug", "--backend", "llama.cpp", "-c", "1024", "-np", "2", "-t", "3",
            "-b", "128", "--max-queue", "0", "--tool-parser", "hermes", "--device", "cuda:1",
            "--reasoning-parser", "think_tags", "--reasoning-budget", "64",
            "--dtype", "bfloat16", "--trust-remote-code", "--allow-pickle", "--cache-ram", "512",
            "--cache-dir", "/tmp/kv", "--cache-disk", "100", "--draft-max", "4", "--draft-ngram", "2",
            "--temperature", "0.3", "--top-p", "0.9", "--top-k", "20", "--min-p", "0.05", "--repeat-penalty", "1.1",
            "--allowed-hosts", "a.example, b.example", "--cors-origins", "http://x.example", "--body-timeout", "7", "--header-timeout", "3",
            "--max-connections", "9", "--keep-alive-timeout", "2", "--log-format", "json", "--no-metrics",
            "--metrics-public", "--tensor-parallel-size", "2", "--pipeline-parallel-size", "3",
            "--data-parallel-size", "4", "--distributed-executor-backend", "ray",
            "--gpu-memory-utilization", "0.8"]  # fmt: skip
    server, model = cli.parse_settings(argv, {})
    assert server.model_dump() == {
        "model": "x.gguf", "served_model_name": "alias", "host": "0.0.0.0", "port": 9000,
        "protocols": [Protocol.ANTHROPIC], "api_key": "k", "max_tokens": 64, "max_body_mb": 0.5,
        "responses_store_max": 10, "responses_store_ttl": 60.0,
        "allowed_hosts": ["a.example", "b.example"], "cors_origins": ["http://x.example"], "header_timeout": 3.0, "body_timeout": 7.0,
        "max_connections": 9, "keep_alive_timeout": 2, "log_level": "debug", "log_format": "json",
        "no_metrics": True, "metrics_public": True,
    }  # fmt: skip
    assert model.model_dump() == {
        "backend": "llama.cpp", "ctx_size": 1024, "parallel": 2, "threads": 3, "batch_size": 128,
        "max_queue": 0, "cache_ram": 512, "cache_dir": "/tmp/kv", "cache_disk": 100, "draft_max": 4,
        "draft_ngram": 2, "temperature": 0.3, "top_p": 0.9, "top_k": 20, "min_p": 0.05, "repeat_penalty": 1.1,
        "tool_parser": "hermes", "reasoning_parser": "think_tags", "reasoning_budget": 64,
        "device": "cuda:1", "dtype": "bfloat16",
        "trust_remote_code": True, "allow_pickle": True, "tensor_parallel_size": 2, "pipeline_parallel_size": 3,
        "data_parallel_size": 4, "distributed_executor_backend": "ray", "gpu_memory_utilization": 0.8,
        "engine_arg": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--backend", "foo"], "--backend"),
        (["--log-level", "loud"], "--log-level"),
        (["--dtype", "int8"], "--dtype"),
        (["--tool-parser", "nope"], "--tool-parser"),
        (["--device", "gpu"], "--device"),
        (["-np", "0"], "--parallel"),
        (["--port", "http"], "--port"),
        (["--protocols", "openai,grpc"], "--protocols"),
        (["--distributed-executor-backend", "slurm"], "--distributed-executor-backend"),
        (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization"),
        (["--engine-arg", "swap_space"], "--engine-arg"),
        (["--engine-arg", "enforce_eager=true"], "--engine-arg"),  # not with --backend vllm
        (["--backend", "vllm", "--engine-arg", "max_num_seqs=8"], "--engine-arg"),  # that is --parallel
        (["--backend", "vllm", "--reasoning-budget", "64"], "--reasoning-budget"),  # vLLM would not keep it
    ],
)
@pytest.mark.parametrize("entry", ["lazarus", "lazarus-serve"])
def test_bad_value_exits_2_naming_the_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str, entry: str
) -> None:
    with pytest.raises(SystemExit) as info:
        if entry == "lazarus":
            cli.main(["serve", *argv])
        else:
            cli.serve_main(argv)
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"{'lazarus serve' if entry == 'lazarus' else entry}: error: {named}: "), last


def test_bad_value_messages(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, expected in [
        (["--tool-parser", "nope"], "unknown tool parser 'nope'; choose one of: deepseek_r1, granite, harmony, hermes, json"),
        (["--protocols", "openai,grpc"], "unknown protocol 'grpc'; choose from: openai, ollama, anthropic"),
        (["--backend", "foo"], "--backend: unknown 'foo'; choose from: auto, llama.cpp, transformers, vllm"),
        (["--log-level", "loud"], "--log-level: unknown 'loud'; choose from: debug, info, warning, error"),
    ]:
        with pytest.raises(SystemExit):
            cli.parse_settings(argv, {})
        err = capsys.readouterr().err
        assert expected in err and "Value error" not in err, err


def test_bad_variable_names_flag_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_settings([], {"LAZARUS_BACKEND": "foo"})
    assert info.value.code == 2
    assert "error: --backend (from LAZARUS_BACKEND): " in capsys.readouterr().err


def test_tool_parser_aliases_are_accepted() -> None:
    assert ModelSettings.model_validate({"tool_parser": "qwen"}).tool_parser == "qwen"


@pytest.mark.parametrize("entry", ["lazarus", "lazarus-serve"])
def test_serve_hands_both_models_to_the_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    seen: list[tuple[ServerSettings, ModelSettings]] = []

    async def fake_load(settings: ServerSettings, model_settings: ModelSettings) -> Any:
        seen.append((settings, model_settings))
        raise ModelLoadError("stop here: no model is loaded in unit tests")

    monkeypatch.setattr(cli, "_load_engine", fake_load)
    monkeypatch.setenv("LAZARUS_PARALLEL", "3")
    monkeypatch.setenv("LAZARUS_CTX_SIZE", "2048")
    argv = ["-m", "some.gguf", "--served-model-name", "alias", "-np", "7", "--protocols", "ollama,openai"]
    code = cli.main(["serve", *argv]) if entry == "lazarus" else cli.serve_main(argv)
    assert code == 1
    assert "error: stop here" in capsys.readouterr().err
    (server, model), = seen  # fmt: skip
    assert server.model == "some.gguf" and server.served_model_name == "alias"
    assert server.protocols == [Protocol.OLLAMA, Protocol.OPENAI]
    assert model.parallel == 7 and model.ctx_size == 2048


def test_engine_args_repeat_and_split_on_commas() -> None:
    argv = ["--backend", "vllm", "--engine-arg", "enable_prefix_caching=false,kv-cache-dtype=auto",
            "--engine-arg", 'hf_overrides={"a": 1, "b": 2}']  # fmt: skip
    _, model = cli.parse_settings(argv, {})
    assert model.engine_arg == ["enable_prefix_caching=false", "kv-cache-dtype=auto", 'hf_overrides={"a": 1, "b": 2}']
    _, model = cli.parse_settings(["--backend", "vllm"], {"LAZARUS_ENGINE_ARG": "max_num_batched_tokens=256,seed=3"})
    assert model.engine_arg == ["max_num_batched_tokens=256", "seed=3"]


def test_an_unknown_engine_arg_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    """The key is checked against vLLM's own engine arguments, where vLLM is installed."""
    pytest.importorskip("vllm", reason="keys are checked against vLLM's AsyncEngineArgs")
    with pytest.raises(SystemExit) as info:
        cli.parse_settings(["--backend", "vllm", "--engine-arg", "no_such_knob=1"], {})
    assert info.value.code == 2
    assert "--engine-arg: vLLM has no engine argument 'no_such_knob'" in capsys.readouterr().err
