"""CLIP image/text embeddings (open_clip) and patch-level relevance maps for zoom.

Three ways to name a model, all resolved without any download:

* a registry name ``"ARCH/TAG"`` (``viewfinder models``), e.g. ``"ViT-B-32/laion2b_s34b_b79k"``:
  open_clip's pretrained weights already in the Hugging Face cache;
* a model directory in open_clip's hub layout (``open_clip_config.json`` + weights such as
  ``open_clip_model.safetensors``), given as a path or as ``"local-dir:/path"``;
* a checkpoint file, with its architecture from ``arch=`` or an ``open_clip_config.json``
  next to it.

Missing weights raise :class:`ModelNotInstalledError` with the command that installs them;
there is never a silent fallback to random weights.

Example::

    clip = load_clip("ViT-B-32/laion2b_s34b_b79k")
    frames = clip.embed_images([rgb_frame])          # (1, 512) float32, unit norm
    query = clip.embed_texts(["a red car"])          # (1, 512)
    heat = clip.patch_relevance(rgb_frame, "a red car")  # (7, 7) cosine per patch
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import models
from ..errors import InvalidImageError, ModelError, ModelNotInstalledError, require
from .device import Placement, pick_device

logger = logging.getLogger(__name__)

LOCAL_DIR_PREFIX = "local-dir:"
CONFIG_NAME = "open_clip_config.json"  # open_clip's hub layout
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
_PURPOSE = "CLIP frame embeddings"
# Frames per forward pass on a GPU (ViT-B-32 in half precision: about 1 GB of activations).
GPU_IMAGE_BATCH = 256


@dataclass(frozen=True)
class ClipIdentity:
    """What built an embedding: stored in index manifests so a model change re-indexes."""

    # Name the user asked for (registry name or path).
    name: str
    # open_clip architecture (e.g. "ViT-B-32") or the config directory it came from.
    arch: str
    # sha256 of the checkpoint file.
    sha256: str
    # Embedding dimension.
    dim: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arch": self.arch, "sha256": self.sha256, "dim": self.dim}


def _check_image(image: Any) -> np.ndarray:
    if not (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] == 3
        and image.dtype == np.uint8
        and image.shape[0] > 0
        and image.shape[1] > 0
    ):
        desc = (
            f"{type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}"
        ).strip()
        raise InvalidImageError(
            f"CLIP needs RGB uint8 arrays of shape (height, width, 3), got "
            f"{desc}; convert with np.asarray(pil_image.convert('RGB'))."
        )
    return image


class ClipEmbedder:
    """A loaded open_clip model. Build it with :func:`load_clip`.

    Args:
        model: The open_clip model, in eval mode.
        preprocess: open_clip's evaluation transform (PIL image -> tensor).
        tokenizer: open_clip tokenizer for the model.
        identity: Name, architecture and weight hash, for manifests.
    """

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        identity: ClipIdentity,
        placement: Placement | None = None,
    ) -> None:
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.identity = identity
        # Where the model runs (the model must already be there); CPU float32 by default.
        self.placement = placement or Placement("cpu", "float32")

    def __repr__(self) -> str:
        return f"ClipEmbedder({self.identity.name!r}, dim={self.dim})"

    @property
    def dim(self) -> int:
        """Dimension of the joint image/text space."""
        return self.identity.dim

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the model's input."""
        size = self.model.visual.image_size
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    def embed_images(
        self,
        images: Sequence[np.ndarray],
        batch_size: int = 32,
        source_size: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Unit-norm embeddings of RGB frames.

        Args:
            images: RGB uint8 arrays (H, W, 3), any size (resized and centre-cropped as
                open_clip's ``preprocess`` does).
            batch_size: Images per forward pass (bounds memory).
            source_size: ``(width, height)`` of the video the frames were scaled down from by
                the decoder: the resize then lands on the size open_clip would pick for the
                original frame (the decoder's rounding of the aspect ratio can move the long
                side by a pixel, and the centre crop with it).

        Returns:
            float32 array (len(images), dim), each row L2-normalised.
        """
        torch = require("torch", "clip", _PURPOSE)
        image_mod = require("PIL.Image", "clip", _PURPOSE)
        # A GPU needs far larger batches than a CPU to be kept busy.
        batch_size = self.placement.batch(batch_size, max(batch_size, GPU_IMAGE_BATCH))
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for lo in range(0, len(images), batch_size):
            chunk = [_check_image(im) for im in images[lo : lo + batch_size]]
            batch = self._crop_normalise(chunk, source_size)
            if batch is None:
                batch = torch.stack([self.preprocess(image_mod.fromarray(im)) for im in chunk])
            batch = batch.to(self.placement.device, self.placement.torch_dtype())
            with torch.inference_mode():
                feats = self.model.encode_image(batch)
            out[lo : lo + len(chunk)] = _normalise(feats.float().cpu().numpy())
        return out

    def _crop_normalise(
        self, images: list[np.ndarray], source_size: tuple[int, int] | None = None
    ) -> Any:
        """The preprocessed batch computed in torch, or None to use ``self.preprocess``.

        For open_clip's usual Resize (shortest side) + CenterCrop + ToTensor + Normalize this
        is the same computation without a PIL round trip per frame: the resize is torch's
        antialiased bicubic/bilinear (the filter PIL uses), rounded to uint8 as PIL's output
        is, at the size torchvision's Resize picks. On real frames of 5 videos it gives
        embeddings with cosine >= 0.9999 to ``preprocess`` + ``encode_image``
        (tests/test_clip_parity.py). Other transforms (squash / longest resize modes, other
        filters) go through ``preprocess`` itself.
        """
        import torch

        steps = getattr(self.preprocess, "transforms", None)
        names = [type(t).__name__ for t in steps or ()]
        if names != ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]:
            return None
        resize, crop, normalize = steps[0], steps[1], steps[-1]
        mode = getattr(resize.interpolation, "value", str(resize.interpolation))
        short = resize.size[0] if isinstance(resize.size, (list, tuple)) else resize.size
        crop_h, crop_w = crop.size
        if (
            mode not in ("bicubic", "bilinear")
            or not isinstance(short, int)
            or (isinstance(resize.size, (list, tuple)) and len(resize.size) != 1)
            or resize.max_size is not None
        ):
            return None
        mean = torch.tensor(normalize.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(normalize.std, dtype=torch.float32).view(1, 3, 1, 1)
        out = torch.empty((len(images), 3, crop_h, crop_w), dtype=torch.float32)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, im in enumerate(images):
            by_shape.setdefault(im.shape, []).append(i)
        for (h, w, _), idx in by_shape.items():
            x = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2).float()
            # torchvision's shortest-side size: the long side is truncated, not rounded.
            src_w, src_h = source_size or (w, h)
            if (src_w >= src_h) != (w >= h):
                src_w, src_h = w, h  # not the frames of that video
            if src_h <= src_w:
                size = (short, int(short * src_w / src_h))
            else:
                size = (int(short * src_h / src_w), short)
            if size != (h, w):
                x = torch.nn.functional.interpolate(
                    x, size=size, mode=mode, antialias=True, align_corners=False
                )
                x = x.round_().clamp_(0, 255)
            if size[0] < crop_h or size[1] < crop_w:
                return None  # CenterCrop would pad: leave that to preprocess
            top = int(round((size[0] - crop_h) / 2.0))
            left = int(round((size[1] - crop_w) / 2.0))
            x = x[:, :, top : top + crop_h, left : left + crop_w].div_(255)
            out[idx] = (x - mean) / std
        return out

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm embeddings of texts, in the same space as :meth:`embed_images`.

        Returns:
            float32 array (len(texts), dim).
        """
        torch = require("torch", "clip", _PURPOSE)
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings; wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[lo : lo + batch_size]))
            with torch.inference_mode():
                feats = self.model.encode_text(tokens.to(self.placement.device))
            out[lo : lo + tokens.shape[0]] = _normalise(feats.float().cpu().numpy())
        return out

    def patch_embeddings(self, image: np.ndarray) -> np.ndarray:
        """Unit-norm embedding of every ViT patch, in the joint image/text space.

        The whole frame is resized (not cropped) to the model's input, so patch ``(r, c)``
        covers rows ``r/gh .. (r+1)/gh`` and columns ``c/gw .. (c+1)/gw`` of the frame. Patch
        tokens are projected MaskCLIP-style (Zhou et al., 2022): the last block's value path
        (``out_proj(v)``) instead of its query-key attention, then ``ln_post`` and ``proj``;
        the attention's global mixing is what makes raw CLIP patch tokens poorly localised.

        Returns:
            float32 array (gh, gw, dim).
        """
        torch = require("torch", "clip", _PURPOSE)
        visual = self.model.visual
        blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        last = blocks[-1] if blocks is not None else None
        if (
            last is None
            or getattr(visual, "attn_pool", None) is not None
            or not isinstance(getattr(last, "attn", None), torch.nn.MultiheadAttention)
            or not visual.transformer.batch_first
        ):
            raise ModelError(
                f"patch_relevance needs a plain open_clip ViT; {self.identity.arch} "
                "has another image tower. Use a ViT-* CLIP model for zoom maps."
            )
        pixels = self._whole_frame_tensor(_check_image(image)).to(
            self.placement.device, self.placement.torch_dtype()
        )
        with torch.inference_mode():
            x = visual._embeds(pixels)
            for block in blocks[:-1]:
                x = block(x)
            attn = last.attn
            width = attn.embed_dim
            v = torch.nn.functional.linear(
                last.ln_1(x), attn.in_proj_weight[2 * width :], attn.in_proj_bias[2 * width :]
            )
            tokens = visual.ln_post(attn.out_proj(v)[:, 1:]) @ visual.proj
        gh, gw = visual.grid_size
        return _normalise(tokens[0].float().cpu().numpy()).reshape(gh, gw, -1)

    def patch_relevance(self, image: np.ndarray, query: str | np.ndarray) -> np.ndarray:
        """Heat map of which regions of ``image`` match ``query`` (for zoom crops).

        Args:
            image: RGB uint8 frame (H, W, 3).
            query: A text, or an embedding of size ``dim`` (e.g. from :meth:`embed_texts`).

        Returns:
            float32 (gh, gw) cosine similarity per patch (see :meth:`patch_embeddings` for the
            patch-to-pixel mapping); :func:`hottest_box` turns it into a crop.
        """
        if isinstance(query, str):
            vec = self.embed_texts([query])[0]
        else:
            vec = np.asarray(query, dtype=np.float32).reshape(-1)
            if vec.shape[0] != self.dim:
                raise ValueError(
                    f"query embedding has {vec.shape[0]} values; this model's space has {self.dim}"
                )
            vec = _normalise(vec[None])[0]
        return (self.patch_embeddings(image) @ vec).astype(np.float32)

    def _whole_frame_tensor(self, image: np.ndarray) -> Any:
        import torch

        cfg = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))).view(1, 3, 1, 1)
        std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))).view(1, 3, 1, 1)
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        x = torch.nn.functional.interpolate(
            x, size=self.image_size, mode="bicubic", antialias=True, align_corners=False
        ).clamp(0, 1)
        return (x - mean) / std


def hottest_box(
    heat: np.ndarray, image_hw: tuple[int, int], fraction: float = 0.5
) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` of the window, ``fraction`` of the frame on each side,
    whose patches have the highest mean relevance: where to zoom.

    Args:
        heat: A (gh, gw) map from :meth:`ClipEmbedder.patch_relevance`.
        image_hw: (height, width) of the frame the map was computed on.
        fraction: Side of the box relative to the frame's sides, in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    gh, gw = heat.shape
    wh, ww = max(1, round(gh * fraction)), max(1, round(gw * fraction))
    summed = np.pad(heat.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = summed[wh:, ww:] - summed[:-wh, ww:] - summed[wh:, :-ww] + summed[:-wh, :-ww]
    r, c = np.unravel_index(int(np.argmax(sums)), sums.shape)
    h, w = image_hw
    return (
        round(c * w / gw),
        round(r * h / gh),
        round((c + ww) * w / gw),
        round((r + wh) * h / gh),
    )


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


# ------------------------------------------------------------------------------------ loading


def load_clip(
    name: str,
    cache_dir: Path | None = None,
    threads: int = 2,
    arch: str | None = None,
    device: str = "auto",
) -> ClipEmbedder:
    """Load a CLIP model by registry name, model directory or checkpoint file.

    Args:
        name: ``"ARCH/TAG"`` registry name, a directory in open_clip's hub layout (optionally
            prefixed ``local-dir:``), or a checkpoint file.
        cache_dir: viewfinder cache root (default: XDG / ``VIEWFINDER_CACHE``).
        threads: torch CPU threads (process-wide in torch).
        arch: open_clip architecture of a bare checkpoint file, e.g. ``"ViT-B-32"``.
        device: ``"auto"`` (a CUDA GPU in half precision if there is one, else the CPU in
            float32), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        DeviceError: ``device`` is not a device name or does not exist here.
        ModelNotInstalledError: The weights are not on this machine (message has the fix).
        UnknownModelError: ``name`` is neither registered nor a path.
        ModelError: The checkpoint does not fit its architecture.
    """
    open_clip = require("open_clip", "clip", _PURPOSE)
    torch = require("torch", "clip", _PURPOSE)
    placement = pick_device(device)  # a bad device fails before the weights load
    target = name[len(LOCAL_DIR_PREFIX) :] if name.startswith(LOCAL_DIR_PREFIX) else name
    resolved = models.resolve("clip", target, cache_dir)
    path = resolved.path
    if threads:
        torch.set_num_threads(threads)
    try:
        if target in models.available_models("clip"):
            arch_used, tag = target.split("/", 1)
            model, preprocess, tokenizer = _from_arch(open_clip, arch_used, tag, path)
            weights = path
        elif path.is_dir():
            model, preprocess, tokenizer, arch_used, weights = _from_dir(open_clip, path)
        elif arch is not None:
            model, preprocess, tokenizer = _from_arch(open_clip, arch, "", path)
            arch_used, weights = arch, path
        elif (path.parent / CONFIG_NAME).is_file():
            model, preprocess, tokenizer, arch_used, weights = _from_sibling_config(open_clip, path)
        else:
            raise ModelError(
                f"Cannot tell the open_clip architecture of {path}; pass arch= (e.g. "
                "load_clip(path, arch='ViT-B-32')) or put an open_clip_config.json next to it."
            )
    except (RuntimeError, ValueError, KeyError, AssertionError) as e:  # open_clip asserts shapes
        raise ModelError(
            f"Could not load CLIP weights {path} ({e}). Check that the checkpoint "
            "matches its open_clip architecture (arch= or open_clip_config.json)."
        ) from e
    model.eval()
    sha = resolved.sha256 or models.cached_sha256(weights)
    dim = getattr(model.visual, "output_dim", None)
    if dim is None:  # e.g. timm towers: measure it
        with torch.inference_mode():
            dim = model.encode_text(tokenizer([""])).shape[-1]
    dim = int(dim)
    identity = ClipIdentity(name=name, arch=arch_used, sha256=sha, dim=dim)
    model.to(placement.device, placement.torch_dtype())
    logger.info(
        "Loaded CLIP %s (%s, dim %d) from %s on %s (%s)",
        name,
        arch_used,
        dim,
        weights,
        placement.device,
        placement.dtype,
    )
    return ClipEmbedder(model, preprocess, tokenizer, identity, placement)


def _find_checkpoint(directory: Path) -> Path | None:
    preferred = (  # open_clip's own order (factory._find_checkpoint_in_dir)
        "open_clip_model.safetensors",
        "open_clip_pytorch_model.safetensors",
        "open_clip_pytorch_model.bin",
        "open_clip_pytorch_model.pth",
    )
    for filename in preferred:
        if (directory / filename).is_file():
            return directory / filename
    found = sorted(p for p in directory.iterdir() if p.suffix in _CHECKPOINT_SUFFIXES)
    return found[0] if found else None


def _from_dir(open_clip: Any, directory: Path) -> tuple[Any, Any, Any, str, Path]:
    if not (directory / CONFIG_NAME).is_file():
        raise ModelNotInstalledError(
            f"{directory} has no {CONFIG_NAME}; a CLIP model directory needs open_clip's hub "
            "layout (open_clip_config.json + open_clip_model.safetensors), or pass the "
            "checkpoint file with arch='ViT-B-32' (its architecture)."
        )
    weights = _find_checkpoint(directory)
    if weights is None:  # open_clip would warn and go on with random weights
        raise ModelNotInstalledError(
            f"{directory} has {CONFIG_NAME} but no weights; put open_clip_model.safetensors "
            "(or open_clip_pytorch_model.bin) in it."
        )
    return _from_sibling_config(open_clip, weights)


def _from_sibling_config(open_clip: Any, weights: Path) -> tuple[Any, Any, Any, str, Path]:
    spec = f"{LOCAL_DIR_PREFIX}{weights.parent}"
    # Build empty, then load the very file we hashed; the weights follow at once, so open_clip's
    # "initialized randomly" warning would only mislead the user.
    quiet = _DropRecords("No pretrained weights loaded")
    logging.getLogger().addFilter(quiet)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec, load_weights=False, pretrained_text=False
        )
    finally:
        logging.getLogger().removeFilter(quiet)
    open_clip.load_checkpoint(model, str(weights), strict=True)
    return model, preprocess, open_clip.get_tokenizer(spec), str(weights.parent), weights


class _DropRecords(logging.Filter):
    """Drops log records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _from_arch(open_clip: Any, arch: str, tag: str, weights: Path) -> tuple[Any, Any, Any]:
    if open_clip.get_model_config(arch) is None:
        raise ModelError(
            f"Unknown open_clip architecture {arch!r}; valid names: {open_clip.list_models()}"
        )
    tag_cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    # A file path loses what the tag knows: its activation and its normalisation constants.
    model, _, preprocess = open_clip.create_model_and_transforms(
        arch,
        pretrained=str(weights),
        force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
        image_mean=tag_cfg.get("mean"),
        image_std=tag_cfg.get("std"),
        image_interpolation=tag_cfg.get("interpolation"),
        image_resize_mode=tag_cfg.get("resize_mode"),
        pretrained_text=False,
    )
    return model, preprocess, open_clip.get_tokenizer(arch)
