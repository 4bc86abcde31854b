"""Reading index parts back: each is verified (checksums, then parsing) before it is used.

A part that fails raises :class:`DamagedPart`; ``index_video`` rebuilds it from the video once.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError, ViewfinderError
from ..runtime import Models
from ..tools.shots import Clip
from .handle import IndexHandle
from .screen_text import ScreenTextIndex
from .transcript import SpeechIndex

if TYPE_CHECKING:
    from ..settings import Settings
    from .store import VideoStore

logger = logging.getLogger(__name__)

SUBTITLES = "subtitles"  # the part holding a subtitle-based speech index
# What reading a damaged part file raises: JSONDecodeError and UnicodeDecodeError are
# ValueErrors; np.load raises ValueError, EOFError or OSError; a damaged .npz BadZipFile or
# zlib.error; JSON of the wrong shape KeyError, TypeError, AttributeError or IndexError.
UNREADABLE = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
    ModelError,
)


class DamagedPart(Exception):
    """A part that should be on disk is damaged, missing or does not load."""

    def __init__(self, part: str, path: Path, problem: str) -> None:
        super().__init__(f"{part} ({path}): {problem}")
        self.part, self.path, self.problem = part, path, problem


class PartLoading:
    """Loads a video's parts into an :class:`IndexHandle` (mixed into the index builder)."""

    info: Any
    store: VideoStore
    settings: Settings
    models: Models
    available: dict[str, str]
    work: dict[str, str]
    seconds: dict[str, float]
    meta: dict[str, Any]

    if TYPE_CHECKING:  # supplied by recipes.PartRecipes, the builder's other base

        def _visual_state(self, recipes: dict[str, Any]) -> str: ...

    def load(self, recipes: dict[str, dict[str, Any] | None]) -> IndexHandle:
        """Load every part (each verified; raises DamagedPart for one that fails)."""
        clips, _ = self._load_part("shots", recipes["shots"], read_shots)
        speech = screen = visual = None
        speech_part = SUBTITLES if SUBTITLES in recipes else "speech"
        if recipes.get(speech_part) is not None:
            speech = self._load_part(
                speech_part, recipes[speech_part], text_index_reader(SpeechIndex.load, self.models)
            )
            empty = "no subtitle lines" if speech_part == SUBTITLES else "no speech recognised"
            self.available["speech"] = "ok" if speech.segments else empty
        if recipes.get("screen_text") is not None:
            screen = self._load_part(
                "screen_text",
                recipes["screen_text"],
                text_index_reader(ScreenTextIndex.load, self.models),
            )
            self.available["text"] = "ok" if screen.spans else "no on-screen text read"
        self._refresh_video_meta()
        state = self._visual_state(recipes)
        if state == "have":
            from .visual import VisualIndex

            manifest = self.store.manifest("visual")
            path = self.store.part_path("visual", manifest["recipe"])
            visual = self._read_part("visual", path, VisualIndex.load)
            self.available["visual"] = "ok"
        elif state == "build" and self.work.get("visual") == "built":
            raise DamagedPart("visual", self.store.directory / "visual", self._problem("visual"))
        for part, have in (
            ("shots", clips),
            (speech_part, speech),
            ("screen_text", screen),
            ("visual", visual),
        ):
            self.work.setdefault(part, "loaded" if have is not None else "skipped")
        return IndexHandle(
            self.info,
            self.store,
            clips,
            speech,
            screen,
            visual,
            dict(self.available),
            dict(self.work),
            dict(self.seconds),
            self.settings,
            self.models,
        )

    def _load_part(self, name: str, recipe: dict[str, Any], read: Callable[[Path], Any]) -> Any:
        """``read`` of the intact build of ``name``; DamagedPart when it is missing or fails."""
        found = self.store.find_part(name, recipe)
        if found is None:
            raise DamagedPart(name, self.store.part_path(name, recipe), self._problem(name))
        return self._read_part(name, found, read)

    def _read_part(self, name: str, path: Path, read: Callable[[Path], Any]) -> Any:
        """``read(path)``; a part from before checksums that reads gets them recorded."""
        try:
            value = read(path)
        except UNREADABLE as e:
            raise DamagedPart(name, path, f"{type(e).__name__}: {e}") from e
        if not self.store.check(path).sealed:
            self.store.seal(path)
        return value

    def _problem(self, name: str) -> str:
        """What is wrong with the builds of ``name`` (for a part that should be there)."""
        for build in self.store.builds(name):
            check = self.store.check(build)
            if not check.ok:
                return check.problem or "damaged"
        return "it is missing"

    def _refresh_video_meta(self) -> None:
        """Read video.json; rewrite it when it was lost or damaged (it names the video in
        ``viewfinder index --list`` and remembers why CLIP was skipped)."""
        stored = self.store.video_meta()
        if stored is not None:
            self.meta = stored
            return
        self.meta.update(path=str(self.info.path), info=info_dict(self.info))
        self.meta.setdefault("indexed_at", time.time())
        try:
            self.store.write_video_meta(self.meta)
        except (OSError, ViewfinderError) as e:  # a read-only cache still serves the index
            logger.info("Could not rewrite video.json (%s)", e)


def read_shots(directory: Path) -> tuple[list[Clip], dict[str, np.ndarray]]:
    """Clips and scan arrays of a shots part (raises on anything unreadable or empty)."""
    clips = [Clip.from_dict(d) for d in json.loads((directory / "clips.json").read_bytes())]
    if not clips:
        raise ValueError("clips.json lists no clips (a video has at least one)")
    with np.load(directory / "scan.npz", allow_pickle=False) as scan:
        arrays = {name: scan[name] for name in scan.files}
    if "times" not in arrays or "change" not in arrays:
        raise ValueError("scan.npz lacks its arrays")
    cuts = json.loads((directory / "cuts.json").read_bytes())["cuts"]
    arrays["cuts"] = np.asarray(cuts, dtype=np.float64)
    return clips, arrays


def text_index_reader(load: Callable[..., Any], models: Models) -> Callable[[Path], Any]:
    """A reader of a speech or screen-text part that also checks its vectors match its texts
    (its embedder, when a query needs it, comes from ``models``)."""

    def read(directory: Path) -> Any:
        index = load(directory, models)
        vectors = index.vectors
        if index.embedder_name and index.items and vectors is None:
            raise ValueError("vectors.npy is missing")
        if vectors is not None and (vectors.ndim != 2 or len(vectors) != len(index.items)):
            raise ValueError(f"vectors.npy has shape {vectors.shape} for {len(index.items)} texts")
        return index

    return read


def info_dict(info: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(info).items()}
