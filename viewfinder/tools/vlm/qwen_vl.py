"""The Qwen2-VL / Qwen2.5-VL family adapter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import require
from ..compress import VisualTokens
from .attention import received_attention
from .base import VisualClip
from .family import EncodedFrames, Family, frame_runs


class QwenFamily(Family):
    """Qwen2-VL / Qwen2.5-VL: native-resolution patches merged 2x2, M-RoPE positions."""

    model_types = ("qwen2_vl", "qwen2_5_vl")
    template_file = "qwen2_vl.jinja"  # Qwen2.5-VL ships the same template

    def encode(self, batch: Any, clips: Sequence[VisualClip], importance: bool) -> EncodedFrames:
        inner = self.model.model
        visual = inner.visual
        merge = visual.spatial_merge_size
        thw_all = batch["image_grid_thw"]
        patches = thw_all.prod(-1).tolist()
        offsets = [0]
        for n in patches:
            offsets.append(offsets[-1] + n)
        pixel_values = batch["pixel_values"].to(self.model.dtype)
        feats, grids, imps = [], [], []
        for start in range(0, len(patches), self.chunk):
            stop = min(start + self.chunk, len(patches))
            thw = thw_all[start:stop]
            pv = pixel_values[offsets[start] : offsets[stop]]
            captured: dict[str, Any] = {}
            handle = None
            if importance:

                def hook(module: Any, args: tuple, kwargs: dict, store: dict = captured) -> None:
                    store["args"], store["kwargs"] = args, kwargs

                handle = visual.blocks[-1].attn.register_forward_pre_hook(hook, with_kwargs=True)
            try:
                out = inner.get_image_features(pv, thw)
            finally:
                if handle is not None:
                    handle.remove()
            feats.extend(out.pooler_output)
            grids.extend((int(h) // merge, int(w) // merge) for _, h, w in thw.tolist())
            if importance:
                imps.extend(self._importance(captured, thw))
        unit_frame = list(range(len(feats)))
        tokens = VisualTokens(feats, grids, frame_runs(clips), imps or None)
        return EncodedFrames(tokens, unit_frame, [("unit", i) for i in range(len(feats))])

    def _importance(self, captured: dict, thw: Any) -> list:
        """Mean received attention in the last vision block, per merged token, raster order."""
        torch = require("torch", "vlm", "The VLM")
        from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

        visual = self.model.model.visual
        attn = visual.blocks[-1].attn
        hidden = captured["kwargs"].get("hidden_states", captured["args"][0])
        cu = captured["kwargs"].get("cu_seqlens")
        cos, sin = captured["kwargs"]["position_embeddings"]
        n = hidden.shape[0]
        with torch.no_grad():
            q, k, _ = (
                attn.qkv(hidden).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            )
            q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
            received = torch.zeros(n, device=hidden.device)
            bounds = cu.tolist()
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                received[a:b] = received_attention(q[a:b].transpose(0, 1), k[a:b].transpose(0, 1))
        unit = visual.spatial_merge_size**2
        per_token = received.view(-1, unit).sum(-1)
        if getattr(visual, "window_size", None):  # Qwen2.5-VL runs blocks in window order
            from transformers.vision_utils import get_vision_window_index

            window_index, _ = get_vision_window_index(
                thw,
                spatial_merge_size=visual.spatial_merge_size,
                window_size=visual.window_size,
                patch_size=visual.patch_size,
            )
            per_token = per_token[torch.argsort(window_index)]
        sizes = (thw.prod(-1) // unit).tolist()
        return list(torch.split(per_token, sizes))

    def positions(self, batch: Any) -> Any:
        """M-RoPE (temporal, row, col) positions of the full prompt, [3, 1, length], computed
        by the model's own ``get_rope_index``; dropped tokens later leave gaps, kept ones keep
        their place."""
        positions, _ = self.model.model.get_rope_index(
            batch["input_ids"],
            mm_token_type_ids=batch["mm_token_type_ids"],
            image_grid_thw=batch["image_grid_thw"],
            attention_mask=batch.get("attention_mask"),
        )
        return positions

    def next_positions(self, positions: Any, step: int) -> Any:
        return (positions.amax() + step).reshape(1, 1, 1).expand(3, 1, 1)
