"""The student: a MobileNetV3 image tower and a Lite Transformer text tower in one joint space."""
from __future__ import annotations

import math

import torch
from torch import nn

from .image_encoder import MobileNetV3Image
from .lite_transformer import LiteTransformerText

PREPROCESS_KEYS = ("image_size", "resize_mode", "interpolation", "mean", "std")



def clip_outputs(encoder, images, texts, logit_scale) -> dict:
    """The CLIP forward of any encoder: ``logit_scale`` plus ``image_embeds`` / ``text_embeds`` for the inputs
    given (student, HF proxy teacher, exported model)."""
    out = {"logit_scale": logit_scale}
    if images is not None:
        out["image_embeds"] = encoder.encode_image(images)
    if texts is not None:
        out["text_embeds"] = encoder.encode_text(texts)
    return out

class MobileCLIP(nn.Module):
    """``encode_image`` / ``encode_text`` return L2-normalised embeddings; ``forward`` returns a dict."""

    def __init__(self, embed_dim: int, vision_cfg: dict, text_cfg: dict,
                 init_logit_scale: float = math.log(1 / 0.07), description: str = ""):
        super().__init__()
        self.embed_dim = embed_dim
        self.visual = MobileNetV3Image(embed_dim, **vision_cfg)
        self.text = LiteTransformerText(embed_dim, **text_cfg)
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self.preprocess_cfg = {k: vision_cfg[k] for k in PREPROCESS_KEYS if k in vision_cfg}

    @property
    def context_length(self) -> int:
        return self.text.context_length

    @property
    def label(self) -> str:
        """How tables name this model: set by loaders (``"name (file.pt)"``), else the registry name."""
        return self.__dict__.get("_label") or getattr(self, "config", {}).get("name", "student")

    @label.setter
    def label(self, value: str):
        self.__dict__["_label"] = value

    def image_towers(self) -> list[nn.Module]:
        return [self.visual]

    def text_towers(self) -> list[nn.Module]:
        return [self.text]

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text(ids)

    def forward(self, images: torch.Tensor | None = None, texts: torch.Tensor | None = None) -> dict:
        return clip_outputs(self, images, texts, self.logit_scale.exp())


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_macs(fn, *args) -> int:
    """Multiply-accumulates of ``fn(*args)`` from torch's FLOP counter (FLOPs / 2), attention included: the CPU
    scaled-dot-product kernel and ``nn.MultiheadAttention`` (its fused inference path off while counting)."""
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    def cpu_sdpa(*a, **k):  # the CPU SDPA kernel counts as torch's GPU ones (the only ones it registers)
        return flop_registry[torch.ops.aten._scaled_dot_product_flash_attention](*a, **k)

    cpu_sdpa._get_raw = True  # already takes shapes
    counter = FlopCounterMode(display=False,
                              custom_mapping={torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa})
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # nn.MultiheadAttention's fused kernel is invisible to the counter
    try:
        with torch.no_grad(), counter:
            fn(*args)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return counter.get_total_flops() // 2


def tower_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters of the image tower, the text tower and the whole model (student or teacher)."""
    image, text = model.image_towers(), model.text_towers()
    return {"image": sum(map(count_parameters, image)), "text": sum(map(count_parameters, text)),
            "total": count_parameters(model)}
