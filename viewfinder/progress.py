"""The progress callback every long-running call takes, in one signature.

``progress(stage, done, total)``: ``stage`` names the work ("decode", "speech", "frames", ...),
``done`` and ``total`` are in that stage's unit (seconds of video or items). A stage's own
worker gets the stage already bound: ``stage_progress(done, total)``. Raising from a callback
stops the work (index building keeps its checkpoints). The command line draws them as bars
(``cli.ProgressBars``).
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float, float], None]
StageProgress = Callable[[float, float], None]
