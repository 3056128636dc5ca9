"""The frozen CLIP teacher: an HF ``transformers.CLIPModel`` by hub name or local directory.

``load_teacher("openai/clip-vit-base-patch32")`` uses the real loading path (``from_pretrained``);
``load_teacher("/path/to/dir")`` loads a ``save_pretrained`` directory (a proxy teacher trained here);
``load_teacher("vit-b-32-random")`` builds the exact ViT-B/32 architecture with *random* weights:
right for parameter counts and latency, meaningless for accuracy, and labelled so everywhere.
"""
from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.errors import TeacherLoadError
from .tokenizer import eot_attention_mask
from .transform import CLIP_MEAN, CLIP_STD

RANDOM_VIT_B_32 = "vit-b-32-random"
DEFAULT_TEACHER = "openai/clip-vit-base-patch32"


def vit_b_32_config():
    """CLIPConfig of openai/clip-vit-base-patch32, spelled out (no download)."""
    from transformers import CLIPConfig

    text = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu",
                bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  image_size=224, patch_size=32, hidden_act="quick_gelu")
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=512, logit_scale_init_value=2.6592)


class Teacher(nn.Module):
    """Frozen CLIP. ``forward(images, texts)`` returns normalised embeddings and pooled features."""

    def __init__(self, clip, source: str, random_weights: bool = False):
        super().__init__()
        self.clip = clip.eval()
        self.clip.requires_grad_(False)
        self.source = source
        self.random_weights = random_weights
        vc, tc = clip.config.vision_config, clip.config.text_config
        self.embed_dim = clip.config.projection_dim
        self.image_size = vc.image_size
        self.context_length = tc.max_position_embeddings
        self.eot_token_id = tc.eos_token_id
        self.preprocess_cfg = {"image_size": vc.image_size, "resize_mode": "shortest", "interpolation": "bicubic",
                               "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
        self.eval()

    @property
    def label(self) -> str:
        return f"{self.source} (RANDOM WEIGHTS: params/latency only, not accuracy)" if self.random_weights \
            else self.source

    def image_towers(self) -> list[nn.Module]:
        return [self.clip.vision_model, self.clip.visual_projection]

    def text_towers(self) -> list[nn.Module]:
        return [self.clip.text_model, self.clip.text_projection]

    def train(self, mode: bool = True):  # always frozen in eval mode
        return super().train(False)

    def _text_inputs(self, ids: torch.Tensor):
        if ids.shape[1] > self.context_length:
            raise ValueError(f"text has {ids.shape[1]} tokens, the teacher's context is {self.context_length}")
        return {"input_ids": ids.long(), "attention_mask": eot_attention_mask(ids, self.eot_token_id)}

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> dict:
        out = self.clip.vision_model(pixel_values=images)
        pooled = out.pooler_output
        return {"image_features": pooled, "image_tokens": out.last_hidden_state,
                "image_embeds": F.normalize(self.clip.visual_projection(pooled), dim=-1)}

    @torch.no_grad()
    def text_features(self, ids: torch.Tensor) -> dict:
        out = self.clip.text_model(**self._text_inputs(ids))
        pooled = out.pooler_output
        return {"text_features": pooled, "text_tokens": out.last_hidden_state,
                "text_embeds": F.normalize(self.clip.text_projection(pooled), dim=-1)}

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_features(images)["image_embeds"]

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_features(ids)["text_embeds"]

    @torch.no_grad()
    def forward(self, images: torch.Tensor | None = None, texts: torch.Tensor | None = None) -> dict:
        out = {"logit_scale": self.clip.logit_scale.exp()}
        if images is not None:
            out.update(self.image_features(images))
        if texts is not None:
            out.update(self.text_features(texts))
        return out


def load_teacher(name_or_path: str = DEFAULT_TEACHER, device: str | torch.device = "cpu") -> Teacher:
    from transformers import CLIPModel

    if name_or_path == RANDOM_VIT_B_32:
        warnings.warn("teacher vit-b-32-random: ViT-B/32 architecture with RANDOM weights "
                      "(valid for parameter counts and latency, never for accuracy)", stacklevel=2)
        with torch.random.fork_rng(devices=[]):  # the same random weights every time; the caller's RNG untouched
            torch.manual_seed(0)
            clip = CLIPModel(vit_b_32_config())
        return Teacher(clip, "ViT-B/32 architecture", random_weights=True).to(device)
    try:
        clip = CLIPModel.from_pretrained(name_or_path)
    except Exception as e:  # OSError (offline / missing files), ValueError (not a CLIP config), ...
        where = "local directory" if os.path.isdir(name_or_path) else "hub name"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TeacherLoadError(
            f"cannot load CLIP teacher {name_or_path!r} ({where}): {first} "
            f"-- use a local save_pretrained directory, or {RANDOM_VIT_B_32!r} for params/latency only"
        ) from None
    return Teacher(clip, name_or_path).to(device)
