"""Resolving and loading HF models: the offline Hub cache, and the one-line refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chuk_lazarus.backends.transformers.loading import check_remote_code, check_weights, require_extra
from chuk_lazarus.core.errors import ModelLoadError

COMMIT = "0123456789abcdef0123456789abcdef01234567"

_RESOLVE = """
import sys
from chuk_lazarus.core.errors import ModelLoadError
from chuk_lazarus.models import resolve_model
try:
    r = resolve_model(sys.argv[1])
except ModelLoadError as exc:
    print("ERROR", exc)
else:
    print(r.format, r.path)
"""


def fake_hub_cache(root: Path, repo: str, source: Path, names: list[str] | None = None) -> None:
    """Lay `source`'s files out as the HF cache does for `repo` at one commit (files symlinked)."""
    base = root / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(COMMIT)
    for f in sorted(source.iterdir()):
        if f.is_file() and (names is None or f.name in names):
            (snapshot / f.name).symlink_to(f.resolve())


def resolve_offline(model: str, cache: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache.parent)}
    # A fresh process: huggingface_hub reads HF_HUB_OFFLINE and the cache path when it is imported.
    done = subprocess.run(
        [sys.executable, "-c", _RESOLVE, model],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_hub_id_resolves_from_the_offline_cache(smollm2_hf_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "lazarus-test/smollm2-hf", smollm2_hf_folder)
    out = resolve_offline("lazarus-test/smollm2-hf", cache)
    assert out == f"hf {cache}/models--lazarus-test--smollm2-hf/snapshots/{COMMIT}"


def test_hub_id_not_cached_fails_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    out = resolve_offline("lazarus-test/not-cached", tmp_path / "hub")
    assert out.startswith("ERROR ") and "\n" not in out
    assert "not in the local Hugging Face cache" in out


def test_hub_repo_with_only_pickle_weights_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (source / "pytorch_model.bin").write_bytes(b"not really a pickle")
    fake_hub_cache(tmp_path / "hub", "lazarus-test/pickled", source)
    out = resolve_offline("lazarus-test/pickled", tmp_path / "hub")
    assert out.startswith("ERROR ") and "--allow-pickle" in out and "\n" not in out


def test_local_folder_with_pickle_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="--allow-pickle"):
        check_weights(tmp_path, allow_pickle=False)
    check_weights(tmp_path, allow_pickle=True)


def test_folder_without_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="no model weights"):
        check_weights(tmp_path, allow_pickle=True)


def test_remote_code_needs_the_flag(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auto_map": {"AutoModelForCausalLM": "m.Model"}}))
    with pytest.raises(ModelLoadError, match="--trust-remote-code"):
        check_remote_code(tmp_path, trust_remote_code=False)
    check_remote_code(tmp_path, trust_remote_code=True)


def test_missing_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llguidance", None)  # makes `import llguidance` raise ImportError
    with pytest.raises(ModelLoadError, match=r"chuk-lazarus\[transformers\]") as info:
        require_extra()
    assert "\n" not in str(info.value)


async def test_transformers_backend_refuses_a_gguf() -> None:
    from chuk_lazarus.engine.engine import ModelEngine

    with pytest.raises(ModelLoadError, match="Hugging Face model folder"):
        await ModelEngine.load(None, backend="transformers")


async def test_auto_picks_transformers_for_a_folder(smollm2_hf_folder: Path) -> None:
    from chuk_lazarus.models import resolve_model

    assert resolve_model(str(smollm2_hf_folder)).format == "hf"
