"""On-screen text reading on real frames of ../shared/media (hello_terminal.mp4)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import MEDIA_MISSING

from viewfinder.errors import InvalidImageError, MissingDependencyError, UnknownModelError
from viewfinder.tools import ocr
from viewfinder.tools.ocr import AVAILABLE_ENGINES, OcrOptions, TextBox, load_ocr, normalize_text

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
HELLO = MEDIA / "hello_terminal.mp4"
# hello_terminal.mp4 (1280x720): the title "Hello world..." is on screen throughout; at 6.5 s
# the terminal shows `ls /usr` and its listing (typing ends near 5 s).
LISTING_AT = 6.5
# Konsole's window title and menu bar: text about 11 px tall at 1280 px, 5 px at 640 px.
SMALL_WORDS = {"konsole", "arquivo", "editar", "exibir", "favoritos"}

needs_media = pytest.mark.skipif(not HELLO.exists(), reason=MEDIA_MISSING)


def _frames(path: Path, times: list[float]) -> list[np.ndarray]:
    """Full-resolution RGB frames, through viewfinder's reader when it is there, else PyAV."""
    try:
        from viewfinder.tools.video import open_video
    except ImportError:
        open_video = None
    if open_video is not None:
        with open_video(path) as video:
            return video.frames_at(times, max_side=None)
    import av

    out = []
    with av.open(str(path)) as container:
        for t in times:
            container.seek(int(max(0.0, t - 1.0) / av.time_base))
            best = None
            for f in container.decode(video=0):
                if f.time is not None and f.time > t:
                    break
                best = f
            out.append(best.to_ndarray(format="rgb24"))
    return out


def _words(lines: list[TextBox]) -> set[str]:
    return {w for line in lines for w in re.findall(r"[a-z0-9]+", normalize_text(line.text))}


def _small_words_read(lines: list[TextBox]) -> set[str]:
    """SMALL_WORDS found in the text, also when the engine ran them together ("EditarExibir")."""
    squashed = normalize_text(" ".join(line.text for line in lines), keep_spaces=False)
    return {w for w in SMALL_WORDS if w in squashed}


@pytest.fixture(scope="module")
def listing_frame() -> np.ndarray:
    if not HELLO.exists():
        pytest.skip(MEDIA_MISSING)
    return _frames(HELLO, [LISTING_AT])[0]


@pytest.fixture(scope="module")
def rapid() -> ocr.OcrEngine:
    if "rapidocr" not in AVAILABLE_ENGINES:
        pytest.skip("rapidocr-onnxruntime is not installed (pip install 'viewfinder[ocr]')")
    return load_ocr("rapidocr", OcrOptions(threads=2))


@pytest.fixture(scope="module", params=sorted(AVAILABLE_ENGINES))
def engine(request: pytest.FixtureRequest) -> ocr.OcrEngine:
    return load_ocr(request.param, OcrOptions(threads=2))


@pytest.fixture(scope="module")
def fine_lines(engine: ocr.OcrEngine, listing_frame: np.ndarray) -> list[TextBox]:
    """The coarse-to-fine reading of the listing frame."""
    return engine.read_fine(listing_frame, detect_max_side=640)


def test_normalize_text_ignores_case_and_spacing() -> None:
    """Comparisons of OCR text ignore case, repeated spaces and compatibility forms."""
    assert normalize_text("  Hello\t WORLD…\n") == "hello world..."
    assert normalize_text("ＬＳ /usr") == "ls /usr"
    assert normalize_text("Allow commercial", keep_spaces=False) == normalize_text(
        "allowcommercial", keep_spaces=False
    )


def test_unknown_engine_lists_the_names() -> None:
    """A misspelt engine name fails with the list of valid names."""
    with pytest.raises(UnknownModelError, match="rapidocr.*easyocr-en|easyocr-en.*rapidocr"):
        load_ocr("tesseract")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine whose package is absent says which extra installs it."""
    real = ocr.importlib.util.find_spec
    monkeypatch.setattr(
        ocr.importlib.util, "find_spec", lambda name: None if name == "easyocr" else real(name)
    )
    with pytest.raises(MissingDependencyError, match=r"viewfinder\[easyocr\]"):
        load_ocr("easyocr-en")


@pytest.mark.slow
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((64, 64, 3), np.float32),  # float image
        np.zeros((64, 64), np.uint8),  # grey, no channel axis
        np.zeros((64, 64, 4), np.uint8),  # RGBA
        np.zeros((0, 64, 3), np.uint8),  # empty
        [[0, 0, 0]],  # not an array
    ],
)
def test_bad_image_raises_a_clear_error(rapid: ocr.OcrEngine, bad: object) -> None:
    """Images that are not RGB uint8 (h, w, 3) arrays get a typed error saying how to convert."""
    engine = rapid
    with pytest.raises(InvalidImageError, match=r"RGB|numpy array") as info:
        engine.read(bad)  # type: ignore[arg-type]
    assert "Convert" in str(info.value) or "convert" in str(info.value)
    with pytest.raises(InvalidImageError):
        engine.read_fine(bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_reads_title_and_listing(engine: ocr.OcrEngine, listing_frame: np.ndarray) -> None:
    """Every engine reads the title "Hello world..." where it is, and the `ls` listing."""
    lines = engine.read(listing_frame)
    texts = [normalize_text(line.text) for line in lines]
    title = [b for b in lines if "hello world" in normalize_text(b.text)]
    assert title, texts
    # The title is centred over the terminal at the top of the 1280x720 frame.
    x0, y0, x1, y1 = title[0].box
    assert 430 < (x0 + x1) / 2 < 860 and y1 < 90, title[0]
    # Most of the listing: bin include lib64 local share games lib libexec sbin src.
    listing = {
        "bin",
        "include",
        "lib64",
        "local",
        "share",
        "games",
        "lib",
        "libexec",
        "sbin",
        "src",
    }
    assert len(listing & _words(lines)) >= 7, texts
    assert all(0.0 <= b.score <= 1.0 for b in lines)


@pytest.mark.slow
def test_reads_the_typed_command(rapid: ocr.OcrEngine, listing_frame: np.ndarray) -> None:
    """The default engine reads `ls /usr` on the terminal's first line (EasyOCR reads "lusr")."""
    lines = rapid.read(listing_frame)
    command = [b for b in lines if re.search(r"ls ?/usr", normalize_text(b.text))]
    assert command, [b.text for b in lines]
    assert "eriberto@canopus" in normalize_text(command[0].text)
    # The command is typed on the terminal's first line, right of the webcam inset.
    x0, y0, x1, y1 = command[0].box
    assert x0 > 380 and 110 < (y0 + y1) / 2 < 170, command[0]


@pytest.mark.slow
def test_coarse_to_fine_reads_small_text(
    engine: ocr.OcrEngine, listing_frame: np.ndarray, fine_lines: list[TextBox]
) -> None:
    """read_fine finds boxes at 640 px and reads them at full size: small menu text appears."""
    single = engine.__class__(engine.model, OcrOptions(max_side=640, threads=2)).read(listing_frame)
    fine = fine_lines
    single_hits = _small_words_read(single)
    fine_hits = _small_words_read(fine)
    assert len(fine_hits) >= 4, [b.text for b in fine]
    assert len(fine_hits) >= len(single_hits) + 2, (single_hits, fine_hits)
    # Boxes are in full-resolution pixels: the menu bar lies in the terminal's top strip.
    menu = [b for b in fine if "favoritos" in _small_words_read([b])]
    assert menu and all(400 < b.box[0] < 1280 and 70 < b.box[1] < 130 for b in menu), menu


def test_memo_reuses_unchanged_lines_and_rereads_changed_ones(
    rapid: ocr.OcrEngine, listing_frame: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated frame is answered from the memo; a line painted over is never reported
    with its old text (its region is detected and read again)."""
    calls: list[int] = []
    real = rapid.recognize
    monkeypatch.setattr(rapid, "recognize", lambda crops: calls.append(len(crops)) or real(crops))
    memo = ocr.ReadMemo()
    first = rapid.read_fine(listing_frame, detect_max_side=640, memo=memo)
    read_first = sum(calls)
    again = rapid.read_fine(listing_frame.copy(), detect_max_side=640, memo=memo)
    assert [line.text for line in again] == [line.text for line in first]
    assert sum(calls) == read_first  # nothing recognised twice
    # Blank out the typed command's line.
    command = next(line for line in first if "usr" in line.text)
    edited = listing_frame.copy()
    x0, y0, x1, y1 = (int(v) for v in command.box)
    edited[y0:y1, x0:x1] = edited[y0, x0]
    third = rapid.read_fine(edited, detect_max_side=640, memo=memo)
    assert sum(calls) > read_first
    assert not any("usr" in line.text for line in third)
    assert {line.text for line in first if "usr" not in line.text} & {line.text for line in third}
