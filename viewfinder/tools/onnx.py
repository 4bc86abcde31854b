"""onnxruntime with its telemetry off: no network, no files outside viewfinder's cache.

The official onnxruntime wheels (1.2x and later on Linux and macOS) upload usage events to
``mobile.events.data.microsoft.com`` and keep a device id and an event database under
``~/.cache/Microsoft/DeveloperTools/``. The only switch that stops all of it is an environment
variable read once, when onnxruntime is first imported; ``disable_telemetry_events()`` alone
still lets the uploader start. viewfinder runs without network by design, so every use of
onnxruntime (RapidOCR, Silero VAD in speech recognition) imports it through
:func:`import_onnxruntime`.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

from ..errors import require

logger = logging.getLogger(__name__)

# ORT_DISABLE_TELEMETRY is what the installed 1.32 wheel reads; ORT_TELEMETRY_DISABLED is the
# name onnxruntime's sources use from mid-2026 on. Both mean "collect and send nothing".
TELEMETRY_OFF = {"ORT_DISABLE_TELEMETRY": "1", "ORT_TELEMETRY_DISABLED": "1"}


def telemetry_off() -> None:
    """Set the variables that keep onnxruntime from phoning home (before it is imported).

    Child processes inherit them, so evaluation workers are covered too.
    """
    already = "onnxruntime" in sys.modules
    unset = [k for k, v in TELEMETRY_OFF.items() if os.environ.get(k) != v]
    os.environ.update(TELEMETRY_OFF)
    if already and unset:
        logger.warning(
            "onnxruntime was imported before viewfinder could turn its telemetry off; it may "
            "contact Microsoft and write under ~/.cache/Microsoft. Set %s before starting "
            "Python to prevent that.",
            " and ".join(f"{k}=1" for k in TELEMETRY_OFF),
        )


def import_onnxruntime(extra: str, purpose: str) -> ModuleType:
    """``onnxruntime``, imported with its telemetry off (or the extra to install named)."""
    telemetry_off()
    ort = require("onnxruntime", extra, purpose)
    ort.disable_telemetry_events()  # non-essential events, on builds that ignore the variable
    return ort
