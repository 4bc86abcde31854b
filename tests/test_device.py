"""Device and dtype choice: what exists, unless the user says otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from viewfinder.errors import DeviceError  # noqa: E402
from viewfinder.settings import Settings  # noqa: E402
from viewfinder.tools.device import Placement, pick_device  # noqa: E402

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (torch sees none here)")


def test_auto_is_the_cpu_in_float32_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no GPU, auto runs on the CPU in float32; a GPU request fails with the fix."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == Placement("cpu", "float32")
    assert pick_device(None) == Placement("cpu", "float32")
    assert pick_device("CPU") == Placement("cpu", "float32")
    with pytest.raises(DeviceError, match="--device cpu"):
        pick_device("cuda")
    with pytest.raises(DeviceError, match="valid"):
        pick_device("tpu")
    with pytest.raises(DeviceError, match="valid"):
        pick_device("cuda:x")


def test_auto_prefers_a_gpu_in_half_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where torch sees a GPU, auto uses it in bfloat16 (float16 where bf16 is unsupported),
    with GPU-sized batches; a GPU index past the count is refused."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "device", lambda index: _NoContext())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert pick_device("auto") == Placement("cuda", "bfloat16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    placement = pick_device("cuda:0")
    assert placement == Placement("cuda:0", "float16") and placement.batch(32, 256) == 256
    with pytest.raises(DeviceError, match="1 GPU"):
        pick_device("cuda:1")
    assert pick_device("cpu").batch(32, 256) == 32


class _NoContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_device_setting_from_flag_and_environment() -> None:
    """--device sets Settings.device; VIEWFINDER_DEVICE does when no flag is given."""
    import argparse

    from viewfinder.cli import add_ask_arguments

    parser = argparse.ArgumentParser()
    add_ask_arguments(parser)
    args = parser.parse_args(["v.mp4", "q", "--device", "cpu"])
    assert args.device == "cpu"
    assert Settings.from_env(env={"VIEWFINDER_DEVICE": "cuda:1"}).device == "cuda:1"
    assert Settings.from_env(env={}).device == "auto"


def test_a_bad_device_fails_before_any_weights_load(tmp_path: Path) -> None:
    """load_clip / load_vlm check the device first: a missing model path is not even read."""
    pytest.importorskip("open_clip")
    from viewfinder.tools.clip import load_clip

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_clip import save_tiny_clip

    directory = save_tiny_clip(tmp_path / "tiny")
    with pytest.raises(DeviceError, match="valid"):
        load_clip(str(directory), cache_dir=tmp_path, device="gpu0")


@needs_cuda
def test_clip_on_the_gpu_matches_the_cpu(tmp_path: Path) -> None:
    """On a GPU, half-precision CLIP embeddings stay within cosine 0.99 of float32 CPU ones."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_clip import save_tiny_clip

    from viewfinder.tools.clip import load_clip

    directory = save_tiny_clip(tmp_path / "tiny")
    frames = [np.random.default_rng(i).integers(0, 256, (90, 160, 3), np.uint8) for i in range(4)]
    cpu = load_clip(str(directory), cache_dir=tmp_path, device="cpu").embed_images(frames)
    gpu = load_clip(str(directory), cache_dir=tmp_path, device="cuda").embed_images(frames)
    assert (cpu * gpu).sum(axis=1).min() > 0.99
