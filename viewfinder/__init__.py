"""viewfinder: ask questions about long videos, get answers with timestamped evidence.

    >>> from viewfinder import VideoQA
    >>> ans = VideoQA().ask("talk.mp4", "What does the speaker type?")
    >>> ans.text, ans.evidence

Importing this package is cheap: heavy dependencies load when a model is first used.
"""

from __future__ import annotations

from .answer import Answer as Answer
from .answer import Evidence as Evidence
from .errors import ViewfinderError as ViewfinderError
from .qa import VideoQA as VideoQA
from .qa import ask as ask
from .settings import Settings as Settings

__version__ = "0.1.0"
