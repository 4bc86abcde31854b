"""How every ``viewfinder`` command formats its ``--help``: defaults shown once, when useful."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written (examples stay on their lines) and appends
    ``(default: X)`` to an option's help only when X says something: never for None, False
    or an empty list, and never when the help text already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default" in text.lower()
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or (isinstance(default, list | tuple) and not default)
            or action.nargs == 0  # store_true / store_const flags
        ):
            return text
        return text + " (default: %(default)s)"
