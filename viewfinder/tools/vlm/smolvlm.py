"""The SmolVLM / SmolVLM2 / Idefics3 family adapter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...errors import ModelError, require
from ..compress import VisualTokens
from .attention import SigLipAttentionProbe
from .base import VisualClip
from .family import EncodedFrames, Family, frame_runs


class PixelShuffleFamily(Family):
    """SmolVLM / SmolVLM2 / Idefics3: SigLIP + pixel shuffle; frames split into tiles and a
    global view as the checkpoint's image processor is configured (``do_image_splitting``)."""

    model_types = ("smolvlm", "idefics3")
    answer_prefix = " Best Option: ("  # the template ends "Assistant:", answers start spaced

    template_file = "smolvlm.jinja"

    def media(self, clips: Sequence[VisualClip]) -> dict[str, Any]:
        # One prompt's images. Tiles only when asked: SmolVLM2's own video path shows each
        # frame as one 512 px view (64 tokens); its image default splits a 360p frame into
        # 12 tiles + the global view (832 tokens), 13x the vision cost.
        split = {} if self.split_images else {"do_image_splitting": False}
        return {"images": [[f for c in clips for f in c.frames]], **split}

    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        torch = require("torch", "vlm", "The VLM")
        inner = self.model.model
        # Real (not padding) tiles, in prompt order: what get_image_features keeps.
        pixel_values = batch["pixel_values"].to(self.model.dtype).flatten(0, 1)
        real = (pixel_values != 0.0).flatten(1).any(dim=1)
        pixel_values = pixel_values[real]
        pixel_mask = batch.get("pixel_attention_mask")
        if pixel_mask is not None:
            pixel_mask = pixel_mask.flatten(0, 1)[real].bool()
        else:
            pixel_mask = torch.ones(
                (pixel_values.shape[0], *pixel_values.shape[2:]), dtype=torch.bool
            )
        vision = inner.vision_model
        p = vision.patch_size if hasattr(vision, "patch_size") else vision.config.patch_size
        probe = SigLipAttentionProbe(vision.encoder.layers[-1].self_attn) if importance else None
        feats, imps = [], []
        try:
            for start in range(0, pixel_values.shape[0], self.chunk):
                pv = pixel_values[start : start + self.chunk]
                pm = pixel_mask[start : start + self.chunk]
                patch_mask = pm.unfold(1, p, p).unfold(2, p, p).sum(dim=(-1, -2)) > 0
                if probe is not None:
                    probe.masks = [None] * len(probe.results) + list(patch_mask.flatten(1))
                hidden = vision(pixel_values=pv, patch_attention_mask=patch_mask).last_hidden_state
                feats.extend(inner.connector(hidden))
        finally:
            if probe is not None:
                probe.close()
        if probe is not None:
            scale = inner.connector.scale_factor
            for r in probe.results:
                # Push the patch importance through the same pixel shuffle as the features.
                shuffled = inner.connector.pixel_shuffle(r[None, :, None], scale)
                imps.append(shuffled[0].sum(-1))
        unit_frame = self._tile_frames(batch, len(feats))
        frame_clip = frame_runs(clips)
        side = int(round(math.sqrt(feats[0].shape[0])))
        tokens = VisualTokens(
            feats, [(side, side)] * len(feats), [frame_clip[f] for f in unit_frame], imps or None
        )
        return EncodedFrames(tokens, unit_frame, [("unit", i) for i in range(len(feats))])

    def _tile_frames(self, batch: Any, n_tiles: int) -> list[int]:
        """Frame of each tile, read off the expanded prompt: a frame's last run of image
        tokens (its global view, or the whole frame when it is not split) follows
        ``<global-img>``."""
        ids = batch["input_ids"][0].tolist()
        image_id = self.placeholder_id
        global_id = self.tokenizer.convert_tokens_to_ids(
            getattr(self.processor, "global_image_token", "<global-img>")
        )
        out, frame = [], 0
        for i, tok in enumerate(ids):
            if tok == image_id and (i == 0 or ids[i - 1] != image_id):  # a run starts
                out.append(frame)
                if i > 0 and ids[i - 1] == global_id:
                    frame += 1
        if len(out) != n_tiles:
            raise ModelError(
                f"The prompt has {len(out)} image-token runs but the encoder made {n_tiles} "
                "tiles; the checkpoint's processor and model configs disagree."
            )
        return out
