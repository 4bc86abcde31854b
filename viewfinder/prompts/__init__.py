"""Prompt templates, shipped as package data and rendered strictly.

A template that references a variable the caller did not pass fails loudly
(``jinja2.StrictUndefined``) instead of sending a prompt with a hole in it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load(name: str) -> dict[str, str]:
    """The templates in ``prompts/<name>.yaml`` as a mapping of key -> template text."""
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"prompts/{name}.yaml must be a mapping of template names to text")
    return data


def render(name: str, key: str, **variables: Any) -> str:
    """Render template ``key`` of ``prompts/<name>.yaml`` with ``variables``."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env.from_string(load(name)[key]).render(**variables).strip()
