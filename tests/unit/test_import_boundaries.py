"""Dependencies point one way: a test that fails when an import crosses a layer boundary.

    core  <-  backends (base, scheduler core, one step per engine)  <-  engine  <-  serving  <-  protocols
      ^                                                                   |
      └──────── tools (tool-call formats, call grammars) <────────────────┘     protocols  <-  server  <-  cli

Every `import` in the package is read from the source (including imports inside functions and under
TYPE_CHECKING: a lazy import is still a dependency), relative imports resolved.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "chuk_lazarus"

ENGINE_LIBRARIES = ("llama_cpp", "torch", "transformers", "llguidance", "vllm", "accelerate", "safetensors")
HTTP_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")
CONCRETE_BACKENDS = ("chuk_lazarus.backends.llama_cpp", "chuk_lazarus.backends.transformers",
                     "chuk_lazarus.backends.vllm")  # fmt: skip

# (modules the rule applies to, imports they must not make, why)
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("chuk_lazarus.core", ("chuk_lazarus.", *ENGINE_LIBRARIES, *HTTP_FRAMEWORKS),
     "core is the bottom: neutral types and errors only"),
    ("chuk_lazarus.engine", (*ENGINE_LIBRARIES, *HTTP_FRAMEWORKS, *CONCRETE_BACKENDS, "chuk_lazarus.protocols",
                             "chuk_lazarus.serving", "chuk_lazarus.server", "chuk_lazarus.cli"),
     "the engine knows no engine library, no HTTP and no protocol; it picks a backend by the registry"),
    ("chuk_lazarus.tools", (*ENGINE_LIBRARIES, *HTTP_FRAMEWORKS, "chuk_lazarus.engine", "chuk_lazarus.backends",
                            "chuk_lazarus.protocols", "chuk_lazarus.serving", "chuk_lazarus.server",
                            "chuk_lazarus.cli"),
     "tool-call formats stand on core alone; the engine plans with them"),
    ("chuk_lazarus.backends", (*HTTP_FRAMEWORKS, "chuk_lazarus.engine", "chuk_lazarus.protocols",
                               "chuk_lazarus.serving", "chuk_lazarus.server", "chuk_lazarus.cli",
                               "chuk_lazarus.tools"),
     "a backend runs jobs; it knows nothing of HTTP, protocols, tools or the engine above it"),
    ("chuk_lazarus.backends.base", ("llama_cpp", "torch", "transformers", "llguidance", "vllm", *CONCRETE_BACKENDS),
     "the backend interface is engine-neutral"),
    ("chuk_lazarus.backends.llama_cpp", ("chuk_lazarus.backends.transformers", "torch", "transformers"),
     "one backend does not use another"),
    ("chuk_lazarus.backends.transformers", ("chuk_lazarus.backends.llama_cpp", "chuk_lazarus.backends.vllm",
                                            "vllm"),
     "one backend does not use another"),
    ("chuk_lazarus.backends.vllm", ("chuk_lazarus.backends.llama_cpp", "chuk_lazarus.backends.transformers",
                                    "llama_cpp"),
     "one backend does not use another (HF vocabularies are shared through backends/hf_vocab.py)"),
    ("chuk_lazarus.serving", (*ENGINE_LIBRARIES, "chuk_lazarus.backends", "chuk_lazarus.protocols",
                              "chuk_lazarus.server", "chuk_lazarus.cli", "chuk_lazarus.engine.engine"),
     "the serving pipeline sees only the engine's client interface"),
    ("chuk_lazarus.protocols", (*ENGINE_LIBRARIES, "chuk_lazarus.backends", "chuk_lazarus.server",
                                "chuk_lazarus.cli", "chuk_lazarus.engine.engine"),
     "a protocol knows its schemas, its renderer and the pipeline; never an engine library"),
    ("chuk_lazarus.models", (*HTTP_FRAMEWORKS, "chuk_lazarus.protocols", "chuk_lazarus.serving",
                             "chuk_lazarus.server", "chuk_lazarus.engine", "chuk_lazarus.backends"),
     "model resolution finds files; it runs nothing"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every module `source` imports, absolute, relative ones resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from . import x` may name a submodule: count it too.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def crosses(module: str, imported: str, rule: tuple[str, tuple[str, ...], str]) -> bool:
    scope, forbidden, _ = rule
    if module != scope and not module.startswith(scope + "."):
        return False
    if imported == scope or imported.startswith(scope + "."):
        return False  # within its own layer
    return any(imported == f.rstrip(".") or imported.startswith(f if f.endswith(".") else f + ".")
               for f in forbidden)  # fmt: skip


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for imported in sorted(imports_of(path.read_text(), module, is_package=path.name == "__init__.py")):
            for rule in RULES:
                if crosses(module, imported, rule):
                    out.append(f"{module} imports {imported}: {rule[2]}")
    return out


def test_no_import_crosses_a_boundary() -> None:
    assert violations() == []


def test_every_layer_the_rules_name_exists() -> None:
    for scope, _, _ in RULES:
        relative = Path(*scope.split(".")[1:])
        assert (PACKAGE / relative).is_dir() or (PACKAGE / relative).with_suffix(".py").is_file(), scope


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("chuk_lazarus.engine.prompt", "from ..backends.llama_cpp import LlamaCppBackend", True),
        ("chuk_lazarus.engine.prompt", "def f():\n    import llama_cpp\n", True),
        ("chuk_lazarus.tools.grammar", "from ..protocols.openai import schemas", True),
        ("chuk_lazarus.tools.grammar", "from ..engine.templates import message_to_dict", True),
        ("chuk_lazarus.core.types", "from ..engine import ModelEngine", True),
        ("chuk_lazarus.engine.engine", "from fastapi import APIRouter", True),
        ("chuk_lazarus.protocols.openai.router", "from ...server.app import create_app", True),
        ("chuk_lazarus.engine.engine", "from ..backends.base import Backend", False),
        ("chuk_lazarus.protocols.openai.router", "from fastapi import APIRouter", False),
    ],
)
def test_the_checker_sees_a_crossing(module: str, source: str, expected: bool) -> None:
    found = imports_of(source, module, is_package=False)
    assert any(crosses(module, imported, rule) for imported in found for rule in RULES) is expected
