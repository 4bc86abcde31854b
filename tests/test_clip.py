"""tools/clip.py: loading open_clip models without downloads, embeddings, patch relevance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")
sys.path.insert(0, str(Path(__file__).parent))

from tiny_clip import GRID, TINY_CFG, save_tiny_clip  # noqa: E402

from viewfinder.errors import (  # noqa: E402
    InvalidImageError,
    ModelError,
    ModelNotInstalledError,
    UnknownModelError,
)
from viewfinder.tools.clip import hottest_box, load_clip  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def clip(model_dir: Path, cache: Path):  # noqa: ANN201
    return load_clip(str(model_dir), cache_dir=cache)


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(n)]


def test_hub_layout_directory_loads_and_embeds_unit_vectors(clip) -> None:  # noqa: ANN001
    """A model directory in open_clip's hub layout loads; image embeddings are unit float32
    rows of the model's dimension, and batching does not change them."""
    frames = _frames(5)
    one_batch = clip.embed_images(frames)
    small_batches = clip.embed_images(frames, batch_size=2)
    assert one_batch.shape == (5, TINY_CFG["embed_dim"]) and one_batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(one_batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(one_batch, small_batches, atol=1e-5)
    assert not np.allclose(one_batch[0], one_batch[1])  # different frames, different vectors
    assert clip.identity.dim == 32 and len(clip.identity.sha256) == 64


def test_text_embeddings_share_the_image_space(clip) -> None:  # noqa: ANN001
    """Texts embed to unit vectors of the same dimension; the same text gives the same vector."""
    texts = clip.embed_texts(["a red car", "a whiteboard with notes", "a red car"])
    assert texts.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(texts[0], texts[2], atol=1e-6)
    assert not np.allclose(texts[0], texts[1])
    with pytest.raises(TypeError, match="list of strings"):
        clip.embed_texts("a red car")


def test_local_dir_prefix_and_checkpoint_files_load_the_same_weights(
    model_dir: Path, cache: Path, clip, tmp_path: Path
) -> None:  # noqa: ANN001
    """``local-dir:PATH``, a checkpoint file next to its config, and a bare ``.bin`` with
    ``arch=`` all load the saved weights (identical embeddings to the directory load)."""
    import open_clip

    frames = _frames(2, seed=1)
    expected = clip.embed_images(frames)
    via_prefix = load_clip(f"local-dir:{model_dir}", cache_dir=cache)
    np.testing.assert_allclose(via_prefix.embed_images(frames), expected, atol=1e-5)
    via_file = load_clip(str(model_dir / "open_clip_model.safetensors"), cache_dir=cache)
    np.testing.assert_allclose(via_file.embed_images(frames), expected, atol=1e-5)

    bare = save_tiny_clip(tmp_path / "bare", layout="bin")  # same seed, torch.save format
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    (config_dir / "Tiny-ViT-Test.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(config_dir)
    via_arch = load_clip(str(bare), cache_dir=cache, arch="Tiny-ViT-Test")
    np.testing.assert_allclose(via_arch.embed_images(frames), expected, atol=1e-4)
    with pytest.raises(ModelError, match="arch="):
        load_clip(str(bare), cache_dir=cache)


def test_missing_weights_give_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path
) -> None:
    """A registered name whose weights are not in the local caches raises
    ModelNotInstalledError naming the install command; a config without weights is refused
    rather than run with random weights; an unknown name lists the valid ones."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    with pytest.raises(ModelNotInstalledError, match=r"pip install 'viewfinder\[clip\]'"):
        load_clip("ViT-B-32/laion2b_s34b_b79k", cache_dir=tmp_path)

    no_weights = tmp_path / "config_only"
    no_weights.mkdir()
    (no_weights / "open_clip_config.json").write_text(
        (model_dir / "open_clip_config.json").read_text()
    )
    with pytest.raises(ModelNotInstalledError, match="no weights"):
        load_clip(str(no_weights), cache_dir=tmp_path)

    with pytest.raises(UnknownModelError, match="ViT-B-32/laion2b_s34b_b79k"):
        load_clip("ViT-Q-99/nonexistent", cache_dir=tmp_path)


def test_registry_name_reads_weights_from_the_hub_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path
) -> None:
    """A registered name finds its weights in the Hugging Face cache (no download) and builds
    that architecture: here the cached file is the tiny model, so loading it as ViT-B-32 fails
    with a ModelError that says the checkpoint does not match, not with random weights."""
    import huggingface_hub.constants

    hub = tmp_path / "hub"
    repo = hub / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    weights = model_dir / "open_clip_model.safetensors"
    (snapshot / "open_clip_model.safetensors").write_bytes(weights.read_bytes())
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    with pytest.raises(ModelError, match="matches its open_clip architecture") as err:
        load_clip("ViT-B-32/laion2b_s34b_b79k", cache_dir=tmp_path)
    assert str(snapshot) in str(err.value)


def test_bad_images_are_rejected_with_the_fix(clip) -> None:  # noqa: ANN001
    """Grayscale or float images raise InvalidImageError saying how to convert them."""
    with pytest.raises(InvalidImageError, match="RGB uint8"):
        clip.embed_images([np.zeros((32, 32), dtype=np.uint8)])
    with pytest.raises(InvalidImageError, match="convert"):
        clip.patch_relevance(np.zeros((32, 32, 3), dtype=np.float32), "x")


def test_patch_relevance_highlights_the_region_the_query_matches(clip) -> None:  # noqa: ANN001
    """The heat map has one cell per ViT patch of the whole frame; a query built from the
    patch embeddings of a red square (mechanics, not semantics: random weights) lights up
    that square, and hottest_box turns it into the square's pixel box."""
    frame = np.full((360, 640, 3), 120, dtype=np.uint8)
    frame[:180, 320:] = (230, 20, 20)  # top-right quadrant
    patches = clip.patch_embeddings(frame)
    assert patches.shape == (*GRID, 32)
    np.testing.assert_allclose(np.linalg.norm(patches, axis=-1), 1.0, atol=1e-5)

    query = patches[:2, 2:].reshape(-1, 32).mean(axis=0)
    heat = clip.patch_relevance(frame, query)
    assert heat.shape == GRID and heat.dtype == np.float32
    assert heat[:2, 2:].min() > heat[2:, :].max() and heat[:2, 2:].min() > heat[:2, :2].max()
    assert hottest_box(heat, frame.shape[:2], fraction=0.5) == (320, 0, 640, 180)

    one_patch = clip.patch_relevance(frame, patches[3, 0])
    assert np.unravel_index(np.argmax(one_patch), GRID) == (3, 0)
    text_heat = clip.patch_relevance(frame, "a red square")
    assert text_heat.shape == GRID and np.all(np.abs(text_heat) <= 1.0 + 1e-5)


def test_hottest_box_maps_grid_cells_to_pixels() -> None:
    """hottest_box picks the window with the highest mean and scales it to frame pixels."""
    heat = np.zeros((7, 7), dtype=np.float32)
    heat[5:7, 0:2] = 1.0
    assert hottest_box(heat, (700, 1400), fraction=2 / 7) == (0, 500, 400, 700)
    with pytest.raises(ValueError):
        hottest_box(heat, (700, 1400), fraction=0)
