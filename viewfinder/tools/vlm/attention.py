"""Attention-based token importance: the attention each patch receives in a vision layer
(for the ``attention`` compressor)."""

from __future__ import annotations

import math
from typing import Any

from ...errors import require


def received_attention(q: Any, k: Any, key_mask: Any = None) -> Any:
    """Mean attention each key receives over heads and queries. q, k: [heads, n, dim]."""
    torch = require("torch", "vlm", "The VLM")
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[None, None, :], float("-inf"))
    attn = torch.softmax(scores, dim=-1)
    if key_mask is not None:
        attn = attn[:, key_mask]  # only real patches ask
    return attn.mean(dim=(0, 1))


class SigLipAttentionProbe:
    """Captures the input of one SigLIP attention layer and computes received attention."""

    def __init__(self, attn_module: Any) -> None:
        self.module = attn_module
        self.results: list[Any] = []
        self.masks: list[Any] | None = None
        self._handle = attn_module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        with require("torch", "vlm", "The VLM").no_grad():
            b, n, _ = hidden.shape
            heads = module.num_heads
            q = module.q_proj(hidden).view(b, n, heads, -1).transpose(1, 2)
            k = module.k_proj(hidden).view(b, n, heads, -1).transpose(1, 2)
            for i in range(b):
                mask = None if self.masks is None else self.masks[len(self.results)]
                self.results.append(received_attention(q[i], k[i], mask))

    def close(self) -> None:
        self._handle.remove()
