"""The LLaVA-OneVision family adapter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...errors import require
from ...text import clock
from ..compress import VisualTokens
from .attention import SigLipAttentionProbe
from .base import VisualClip
from .family import EncodedFrames, Family, frame_runs


class LlavaOnevisionFamily(Family):
    """LLaVA-OneVision: each clip is a video (SigLIP patches, projector, 2x2 bilinear pooling
    per frame, one newline token after the clip). Its chat template puts all videos before
    the text, so clip times are listed in words."""

    model_types = ("llava_onevision",)
    template_file = "llava_onevision.jinja"

    @property
    def placeholder_id(self) -> int:
        return int(self.model.config.video_token_id)

    def content(self, clips: Sequence[VisualClip], text: str) -> list[dict[str, Any]]:
        spans = "".join(
            f"Video {ci + 1}: {len(c.frames)} frames from {clock(min(c.timestamps))} to "
            f"{clock(max(c.timestamps))}.\n"
            for ci, c in enumerate(clips)
        )
        return [{"type": "video"} for _ in clips] + [{"type": "text", "text": spans + text}]

    def media(self, clips: Sequence[VisualClip]) -> dict[str, Any]:
        import numpy as np

        return {"videos": [np.stack(list(c.frames)) for c in clips]}

    def processed(self, text: str, media: dict[str, Any]) -> Any:
        """As the processor gives it, but clips of different lengths stay a list of videos
        (one batch tensor cannot hold them)."""
        torch = require("torch", "vlm", "The VLM")
        out = self.processor(text=[text], **media)
        batch = {k: torch.as_tensor(v) for k, v in out.items() if k != "pixel_values_videos"}
        batch["pixel_values_videos"] = [torch.as_tensor(v) for v in out["pixel_values_videos"]]
        return batch

    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        torch = require("torch", "vlm", "The VLM")
        inner = self.model.model
        cfg = self.model.config
        layer = cfg.vision_feature_layer
        n_layers = cfg.vision_config.num_hidden_layers
        # hidden_states[layer] is the output of encoder layer (layer - 1) (index 0 = embeddings).
        attn_layer = (layer if layer >= 0 else n_layers + 1 + layer) - 1
        probe = None
        if importance:
            tower = getattr(inner.vision_tower, "vision_model", inner.vision_tower)
            probe = SigLipAttentionProbe(tower.encoder.layers[attn_layer].self_attn)
        feats: list[Any] = []
        layout: list[tuple[str, Any]] = []
        try:
            for vi, _clip in enumerate(clips):
                video = batch["pixel_values_videos"][vi].to(self.model.dtype)[None]
                per_frame_all = []
                for start in range(0, video.shape[1], self.chunk):
                    out = inner.get_video_features(
                        video[:, start : start + self.chunk],
                        vision_feature_layer=layer,
                        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
                    )
                    chunk = out.pooler_output[0, :-1]  # the last token is the newline
                    n = min(self.chunk, video.shape[1] - start)
                    per_frame_all.extend(chunk.view(n, -1, chunk.shape[-1]))
                for f in per_frame_all:
                    layout.append(("unit", len(feats)))
                    feats.append(f)
                layout.append(("fixed", inner.image_newline[None, :]))
        finally:
            if probe is not None:
                probe.close()
        side = int(round(math.sqrt(feats[0].shape[0])))
        imps = None
        if probe is not None:
            size = cfg.vision_config.image_size
            patches = size // cfg.vision_config.patch_size
            imps = []
            for r in probe.results:
                if r.shape[0] != patches * patches:  # a CLS token first
                    r = r[-patches * patches :]
                pooled = torch.nn.functional.interpolate(
                    r.view(1, 1, patches, patches), size=(side, side), mode="bilinear"
                )
                imps.append(pooled.flatten())
        tokens = VisualTokens(feats, [(side, side)] * len(feats), frame_runs(clips), imps)
        return EncodedFrames(tokens, list(range(len(feats))), layout)
