"""The frame embedder sees what open_clip's own pipeline sees.

The index decodes frames at a reduced size and preprocesses them in torch instead of with
open_clip's PIL ``preprocess``. With random weights every pixel matters, so embeddings that
agree with ``create_model_and_transforms(...)`` + ``preprocess`` + ``encode_image`` on the
full-size decoded frame (cosine >= 0.999) show the inputs agree. Checkpoints are saved in
open_clip's hub layout and loaded with :func:`load_clip`, as a user's would be.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")
sys.path.insert(0, str(Path(__file__).parent))

from tiny_clip import save_random_clip, save_tiny_clip  # noqa: E402

from viewfinder.indexes.visual import decode_side  # noqa: E402
from viewfinder.tools.clip import load_clip  # noqa: E402
from viewfinder.tools.video import open_video  # noqa: E402

MEDIA = Path("/work/shared/media")
# Five aspect ratios and sizes: 16:9 720p, 4:3, almost square and tiny, 15:11, 16:9 405p.
VIDEOS = [
    "hello_terminal.mp4",
    "display_settings.webm",
    "message_board.ogv",
    "wanna_work_together.mp4",
    "city_timelapse.mpg",
]
TIMES = [1.0, 3.5]
TEXTS = ["a terminal window with text", "a white bird", "", "night city towers " * 20]

pytestmark = pytest.mark.skipif(
    not all((MEDIA / v).is_file() for v in VIDEOS), reason="needs the real clips in " + str(MEDIA)
)


def _reference(directory: Path):  # noqa: ANN202
    """open_clip's own model, eval transform and tokenizer for a hub-layout directory."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{directory}")
    return model.eval(), preprocess, open_clip.get_tokenizer(f"local-dir:{directory}")


def _unit(x):  # noqa: ANN001, ANN202
    return (x / x.norm(dim=-1, keepdim=True)).numpy()


def _check_parity(directory: Path, tmp_path: Path) -> None:
    import torch
    from PIL import Image

    clip = load_clip(str(directory), cache_dir=tmp_path)
    model, preprocess, tokenizer = _reference(directory)
    for video in VIDEOS:
        with open_video(MEDIA / video) as reader:
            indexed = reader.frames_at(TIMES, decode_side(reader.info, clip))  # as the index
            native = reader.frames_at(TIMES, None)
        source = (reader.info.width, reader.info.height)  # as VisualJob passes it
        assert clip._crop_normalise(indexed, source) is not None  # torch, not the fallback
        ours = clip.embed_images(indexed, source_size=source)
        with torch.inference_mode():
            pixels = torch.stack([preprocess(Image.fromarray(f)) for f in native])
            theirs = _unit(model.encode_image(pixels))
        cosine = (ours * theirs).sum(axis=1)
        assert cosine.min() >= 0.999, (video, native[0].shape, cosine)
    with torch.inference_mode():
        theirs = _unit(model.encode_text(tokenizer(TEXTS)))
    np.testing.assert_allclose(clip.embed_texts(TEXTS), theirs, atol=1e-5)


def test_tiny_clip_matches_open_clip_on_real_frames(tmp_path: Path) -> None:
    """A tiny ViT (64 px input) embeds real frames of five videos, decoded the way the index
    decodes them, as open_clip's preprocess + encode_image does on the native frames."""
    _check_parity(save_tiny_clip(tmp_path / "tiny"), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["ViT-B-32", "MobileCLIP-S1"])
def test_full_size_clip_matches_open_clip_on_real_frames(arch: str, tmp_path: Path) -> None:
    """Full-size ViT-B-32 and MobileCLIP-S1 (a FastViT image tower, not a ViT): image
    embeddings of real frames within cosine 0.999 of open_clip's, text embeddings equal."""
    _check_parity(save_random_clip(tmp_path / arch, arch), tmp_path)
