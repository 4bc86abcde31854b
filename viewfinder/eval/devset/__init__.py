"""A dev set that is not the needle generator: scripted videos and real clips.

The needle benchmark hides one phrase or banner per question and asks for it with the same
words. The questions here are the ones a user asks of a screencast: paraphrased away from the
spoken or written words, about keys and numbers, about a value that is said twice and changes,
about what comes first, about lists on slides (which is listed, which is not, list them all),
about scrolling credits, about a command typed right after a cut, and open questions, some of
whose answers are not in the video.

- :mod:`.recipe`: the videos (:data:`VIDEOS` scripted, :data:`REAL_CLIPS` from
  ``../shared/media``), :data:`QUESTIONS` and the per-video :data:`SPLITS`.
- :mod:`.render`: :func:`build` renders the scripted videos (PIL, espeak-ng, sox, ffmpeg),
  links the real clips and writes ``annotations.jsonl`` for ``viewfinder eval jsonl``.
- :mod:`.scoring`: :func:`score`, :func:`in_window`, :func:`split_rows`,
  :func:`leave_one_video_out`, used by ``bench/devset_bench.py`` and the calibration fitter.
"""

from __future__ import annotations

from .recipe import MODALITIES as MODALITIES
from .recipe import QUESTIONS as QUESTIONS
from .recipe import REAL_CLIPS as REAL_CLIPS
from .recipe import SPLITS as SPLITS
from .recipe import VIDEOS as VIDEOS
from .recipe import DevsetError as DevsetError
from .recipe import Question as Question
from .recipe import Scene as Scene
from .recipe import scene_starts as scene_starts
from .recipe import scene_window as scene_window
from .recipe import video_file as video_file
from .recipe import video_seconds as video_seconds
from .render import build as build
from .render import record as record
from .render import tools_missing as tools_missing
from .scoring import LETTERS as LETTERS
from .scoring import in_window as in_window
from .scoring import leave_one_video_out as leave_one_video_out
from .scoring import score as score
from .scoring import split_rows as split_rows
