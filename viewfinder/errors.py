"""Typed errors. Every message says what went wrong *and* how to fix it.

The CLI catches :class:`ViewfinderError` at the top, prints its message on one line and
exits with code 1; library callers catch the subclass they care about.
"""

from __future__ import annotations


class ViewfinderError(Exception):
    """Base class of every error viewfinder raises on purpose."""


class VideoError(ViewfinderError):
    """A video could not be used."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video path does not exist."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"Video not found: {path}. Check the path (it is not resolved against any "
            "project directory) or pass an absolute path."
        )


class NotAVideoError(VideoError):
    """The file exists but holds no decodable video stream."""

    def __init__(self, path: object, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Not a video: {path} has no readable video stream{extra}. Pass a video "
            "file (mp4, mkv, webm, ogv, mpg, ...); convert other media with "
            "`ffmpeg -i INPUT -c:v libx264 out.mp4`."
        )


class CorruptVideoError(VideoError):
    """The container opened but frames could not be decoded (truncated or damaged file)."""

    def __init__(self, path: object, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Corrupt or truncated video: {path}{extra}. Re-download or re-encode "
            "it, e.g. `ffmpeg -err_detect ignore_err -i IN -c:v libx264 -c:a aac "
            "OUT.mp4`."
        )


class EmptyVideoError(VideoError):
    """The video has no frames (zero length)."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"Empty video: {path} has zero length (no frames). Check that the "
            "recording or export finished."
        )


class IndexDamagedError(ViewfinderError):
    """A part of a video's index failed its checksum or did not load, and rebuilding it from
    the video did not give a part that does."""

    def __init__(self, video: object, part: str, problem: str, directory: object) -> None:
        import shlex

        super().__init__(
            f"The {part} index of {video} is damaged ({problem}) and rebuilding it did not "
            f"help. Remove the index with `viewfinder index --clear {shlex.quote(str(video))}` "
            f"and index again; if that fails too, check the disk that holds {directory}."
        )
        self.part = part
        self.problem = problem


class UnknownBackendError(ViewfinderError, ValueError):
    """A backend name (video decoder, OCR engine, ...) that does not exist; lists valid names."""


class BackendUnavailableError(ViewfinderError, ImportError):
    """A backend is installed but cannot run here (e.g. system libraries it loads are missing)."""


class SettingsError(ViewfinderError, ValueError):
    """A setting (argument, command-line flag or ``VIEWFINDER_*`` variable) has an unusable
    value, or names something viewfinder does not have (the message lists what it has)."""


class UnknownStrategyError(SettingsError):
    """The answering strategy is not one of ``qa.STRATEGIES``."""


class InvalidQuestionError(ViewfinderError, ValueError):
    """The question or its options are unusable."""


class InvalidImageError(ViewfinderError, ValueError):
    """An image handed to a model is not an RGB uint8 array of shape (height, width, 3)."""


class InvalidAudioError(ViewfinderError, ValueError):
    """A waveform handed to speech recognition is not a finite 1-D float array at 16 kHz."""


class ModelError(ViewfinderError):
    """A model could not be resolved or loaded."""


class UnknownModelError(ModelError, KeyError):
    """A model name is not in the registry and is not a path."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ModelNotInstalledError(ModelError):
    """A known model whose weights are not on this machine."""


class PromptTooLongError(ModelError, ValueError):
    """A prompt does not fit the model's context window (the message gives both sizes)."""


class MissingDependencyError(ViewfinderError, ImportError):
    """An optional dependency (an extra) is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'viewfinder[{extra}]'"
        )
        self.extra = extra


class AnnotationError(ViewfinderError):
    """A benchmark annotation file could not be read."""


class SubtitleError(AnnotationError, ValueError):
    """A subtitle file (SRT, WebVTT, LongVideoBench JSON) or subtitle lines are unusable."""


class PredictionsError(ViewfinderError, ValueError):
    """A predictions file given to ``viewfinder eval score`` is unusable."""


class BudgetError(ViewfinderError, ValueError):
    """A visual-token budget cannot be honoured (e.g. fewer tokens than images)."""


class UnknownCompressorError(ViewfinderError, KeyError):
    """A visual-token compressor name is not known (the message lists the valid names)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class CacheNotWritableError(ViewfinderError, OSError):
    """The cache directory cannot be created or written."""

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(
            f"Cannot write to the cache directory {path} ({detail}). Set VIEWFINDER_CACHE "
            "to a writable directory, e.g. VIEWFINDER_CACHE=~/.cache/viewfinder."
        )


class OutputPathError(ViewfinderError, OSError):
    """A file the user asked for (e.g. ``--explain OUT.png``) cannot be written there."""


class UnsafePathError(ViewfinderError, ValueError):
    """A path read from a file (e.g. an annotation's video) points outside its allowed root."""


def require(module: str, extra: str, purpose: str):  # noqa: ANN201 - returns a module
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from e


class DeviceError(ViewfinderError, ValueError):
    """A requested compute device does not exist on this machine, or is not a device name."""


class ExportFormatError(ViewfinderError, ValueError):
    """An export format (e.g. of ``viewfinder transcript``) is not one of the known ones."""
