"""The trainable HF ``CLIPModel`` (``--arch hf-clip``): how a proxy teacher is trained with this trainer.

Its checkpoints (``OUT/last.pt``) carry ``HF_TRAIN_FORMAT``; the finished model is written with
``save_pretrained`` so that ``mobileclip.load_teacher`` reads it like any CLIP teacher.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch.nn.functional as F
from torch import nn

from ..utils.errors import TrainError
from ..models.model import clip_outputs
from ..models.tokenizer import eot_attention_mask
from ..models.transform import CLIP_MEAN, CLIP_STD

HF_TRAIN_FORMAT = "mobileclip-kd-hfclip-train"

HF_CONFIGS = {
    # conftest-sized: for tests
    "tiny": dict(vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                             image_size=32, patch_size=8),
                 text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
                 projection_dim=32),
    # a small ViT a 2-core CPU trains in minutes on 32-px images (the CIFAR-10 proxy teacher)
    "cpu-vit": dict(vision=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                                image_size=32, patch_size=8),
                    text=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4),
                    projection_dim=128),
}


def hf_clip_config(spec: str, image_size: int | None = None):
    """A ``CLIPConfig`` from a preset name (``tiny``, ``cpu-vit``) or a JSON file (CLIPConfig.to_dict() format)."""
    from transformers import CLIPConfig

    if spec in HF_CONFIGS:
        c = HF_CONFIGS[spec]
        text = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                    pad_token_id=1, **c["text"])
        cfg = CLIPConfig(text_config=text, vision_config=dict(c["vision"]), projection_dim=c["projection_dim"])
    elif os.path.isfile(spec):
        try:
            cfg = CLIPConfig(**json.loads(Path(spec).read_text()))
        except (ValueError, TypeError) as e:
            raise TrainError(f"--hf-config {spec}: not a CLIPConfig JSON ({e})") from None
    else:
        raise TrainError(f"--hf-config {spec!r}: not a preset ({', '.join(HF_CONFIGS)}) nor a JSON file")
    if image_size:
        cfg.vision_config.image_size = image_size
    return cfg


def hf_config_dict(cfg) -> dict:
    return json.loads(cfg.to_json_string())


class HFClipTrainable(nn.Module):
    """A trainable HF ``CLIPModel`` with the student's interface (normalised embeddings, log logit scale)."""

    def __init__(self, clip_config):
        super().__init__()
        from transformers import CLIPModel

        self.clip = CLIPModel(clip_config)
        self.embed_dim = clip_config.projection_dim
        self.eot_token_id = clip_config.text_config.eos_token_id
        self.preprocess_cfg = {"image_size": clip_config.vision_config.image_size, "resize_mode": "shortest",
                               "interpolation": "bicubic", "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
        self.label = "hf-clip (training)"

    @property
    def logit_scale(self):
        return self.clip.logit_scale

    def encode_image(self, images):
        return F.normalize(self.clip.visual_projection(self.clip.vision_model(pixel_values=images).pooler_output), dim=-1)

    def encode_text(self, ids):
        mask = eot_attention_mask(ids, self.eot_token_id)
        out = self.clip.text_model(input_ids=ids.long(), attention_mask=mask)
        return F.normalize(self.clip.text_projection(out.pooler_output), dim=-1)

    def forward(self, images=None, texts=None):
        return clip_outputs(self, images, texts, self.clip.logit_scale.exp())

