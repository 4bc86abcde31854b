"""A tiny, randomly initialised open_clip model saved in open_clip's real on-disk formats.

Random weights have no semantics: tests built on it check mechanics (shapes, normalisation,
retrieval of a known vector, persistence), never what an image "means".
"""

from __future__ import annotations

from pathlib import Path

# A 64 px ViT with 16 px patches (a 4 x 4 grid), 2 layers, a 2-layer text tower, 32-d space.
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
GRID = (4, 4)


def save_tiny_clip(directory: Path, seed: int = 0, layout: str = "hub") -> Path:
    """Save a tiny CLIP and return the path to hand to ``load_clip``.

    Args:
        directory: Where to write (created).
        seed: torch seed of the random initialisation.
        layout: ``"hub"``: open_clip's hub layout (open_clip_config.json +
            open_clip_model.safetensors), returns the directory; ``"bin"``: a bare
            ``torch.save`` state dict, returns the file.
    """
    import open_clip
    import safetensors.torch
    import torch
    from open_clip.push_to_hf_hub import save_config_for_hf

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CFG)
    open_clip.set_model_preprocess_cfg(
        model,
        {
            "size": 64,
            "mean": list(open_clip.OPENAI_DATASET_MEAN),
            "std": list(open_clip.OPENAI_DATASET_STD),
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    )
    directory.mkdir(parents=True, exist_ok=True)
    if layout == "bin":
        path = directory / "tiny-clip.bin"
        torch.save(model.state_dict(), path)
        return path
    # What open_clip's save_for_hf writes (minus the tokenizer files a SimpleTokenizer lacks).
    safetensors.torch.save_file(model.state_dict(), str(directory / "open_clip_model.safetensors"))
    save_config_for_hf(model, directory / "open_clip_config.json", TINY_CFG)
    return directory


def save_random_clip(directory: Path, arch: str, seed: int = 0) -> Path:
    """Save open_clip architecture ``arch`` (full size, random weights) in the hub layout a
    user's downloaded checkpoint has, and return the directory."""
    import open_clip
    import safetensors.torch
    import torch
    from open_clip.push_to_hf_hub import save_config_for_hf

    torch.manual_seed(seed)
    model = open_clip.create_model(arch)  # random: no pretrained tag
    directory.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(model.state_dict(), str(directory / "open_clip_model.safetensors"))
    save_config_for_hf(model, directory / "open_clip_config.json", open_clip.get_model_config(arch))
    return directory
