"""`--model` resolution: every failure is one clear `ModelLoadError`, and the CLI turns it into one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chuk_lazarus.core.errors import ModelLoadError
from chuk_lazarus.models import resolve_model
from chuk_lazarus.models.embedded import shipped_gguf_path


def test_no_model_means_the_embedded_16_bit_copy() -> None:
    resolved = resolve_model(None)
    assert resolved.name == "smollm2-135m-instruct" and resolved.format == "gguf"
    assert resolved.path.name.endswith(".f16.gguf") and resolved.path.read_bytes()[:4] == b"GGUF"


def test_shipped_q4_1_file_is_reachable_by_name() -> None:
    resolved = resolve_model("smollm2-135m:q4_1")
    assert resolved.path == shipped_gguf_path()


def test_gguf_file_and_folder(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    target.symlink_to(shipped_gguf_path())
    assert resolve_model(str(target)).path == target
    assert resolve_model(str(tmp_path)).path == target


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda d: str(d / "missing.gguf"), "not found"),
        (lambda d: str(d), "no model found in folder"),
        (lambda d: _write(d / "notes.txt", b"hello"), "not a GGUF file"),
        (lambda d: "./nowhere/model", "not found"),
        (lambda d: "not a model id!", "neither an existing file"),
    ],
)
def test_bad_local_models_fail_with_one_clear_line(tmp_path: Path, make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError) as info:
        resolve_model(make(tmp_path))
    assert fragment in info.value.message and "\n" not in info.value.message


def test_hub_id_offline_and_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError) as info:
        resolve_model("some-org/some-model-GGUF:Q4_K_M")
    assert "not in the local Hugging Face cache" in info.value.message


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "chuk_lazarus.cli", "serve", "--port", "0", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_cli_corrupt_gguf_is_one_line_and_nonzero_exit(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    done = _serve("--model", str(corrupt))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not load" in errors[0]


def test_cli_missing_file_is_one_line_and_nonzero_exit(tmp_path: Path) -> None:
    done = _serve("--model", str(tmp_path / "absent.gguf"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "error: model path not found" in done.stderr


def test_cli_offline_hub_id_is_one_line(tmp_path: Path) -> None:
    done = _serve("--model", "some-org/some-model-GGUF", env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "not in the local Hugging Face cache" in done.stderr


def test_cli_rejects_unknown_protocols() -> None:
    done = _serve("--protocols", "openai,grpc")
    assert done.returncode == 2
    assert "unknown protocol 'grpc'" in done.stderr and "openai, ollama, anthropic" in done.stderr


def test_cli_version() -> None:
    done = subprocess.run([sys.executable, "-m", "chuk_lazarus.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("lazarus ")


def _fake_hub_cache(root: Path, repo: str, files: dict[str, Path]) -> None:
    """The standard HF cache layout (refs/main -> snapshots/<commit>/<file>), as a download leaves it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        (snapshot / name).symlink_to(source)


def test_hub_id_resolves_from_a_populated_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    shipped = shipped_gguf_path()
    _fake_hub_cache(tmp_path, "acme/smol-GGUF", {"smol.Q4_1.gguf": shipped, "smol.Q8_0.gguf": shipped})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    picked = resolve_model("acme/smol-GGUF:Q4_1")
    assert picked.path.name == "smol.Q4_1.gguf" and picked.format == "gguf" and picked.name == "acme/smol-GGUF:Q4_1"
    assert picked.path.read_bytes()[:4] == b"GGUF"
    # Without a quant, the preference order picks Q8_0 over Q4_1.
    assert resolve_model("acme/smol-GGUF").path.name == "smol.Q8_0.gguf"
    with pytest.raises(ModelLoadError, match="no GGUF file matching 'Q2_K'"):
        resolve_model("acme/smol-GGUF:Q2_K")


@pytest.mark.parametrize(
    "args,message",
    [
        (("--tool-parser", "bogus"), "--tool-parser: unknown tool parser 'bogus'"),
        (("--backend", "tgi"), "--backend: unknown 'tgi'"),
        (("--port", "99999"), "--port"),
        (("--max-tokens", "0"), "--max-tokens"),
    ],
)
def test_cli_rejects_bad_flags_before_loading(args: tuple[str, ...], message: str) -> None:
    done = _serve(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
