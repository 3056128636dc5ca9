"""SigLIP and SigLIP2 teachers (Hugging Face ``SiglipModel``; ``Siglip2Model`` for the NaFlex checkpoints).

Loaded with ``from_pretrained`` from a hub name or a ``save_pretrained`` directory whose ``config.json`` says
``model_type: siglip`` (SigLIP, and SigLIP2's fixed-resolution checkpoints) or ``siglip2`` (NaFlex); the tokenizer
comes from the same place (``AutoTokenizer``: SentencePiece for SigLIP, Gemma for SigLIP2). Captions are decoded
from the pipeline's CLIP ids and tokenized as SigLIP was trained: padded to ``max_length`` (its 64-token context).
Images use the SigLIP image processors' settings (mean = std = 0.5; SigLIP resizes bicubic without cropping,
``squash``; SigLIP2 NaFlex bilinear) at the model's resolution. A NaFlex model gets the square crop as
``(S / patch)^2`` patches with their spatial shape, S the largest square its ``num_patches`` allows.
Pairs are scored ``sigmoid(scale * cos + bias)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.errors import TeacherLoadError
from .teacher_base import Member, Scoring, TeacherBase, captions_from_ids, first_line, hf_load_error
from .teacher_spec import RANDOM_SIGLIP2_B16, RANDOM_SIGLIP_B16

_RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL resample codes of the image processors


def _processor_defaults(naflex: bool) -> tuple[list[float], list[float], str]:
    from transformers import Siglip2ImageProcessor, SiglipImageProcessor

    p = Siglip2ImageProcessor() if naflex else SiglipImageProcessor()
    return list(p.image_mean), list(p.image_std), _RESAMPLE[int(p.resample)]


class SiglipTeacher(TeacherBase):
    """A frozen ``SiglipModel`` / ``Siglip2Model`` with its own tokenizer (None: a random architecture, see
    :meth:`own_text_inputs`)."""

    family = "hf-siglip"

    def __init__(self, model, source: str, tokenizer=None, random_weights: bool = False):
        super().__init__(source, random_weights)
        self.clip = model.eval()
        self.clip.requires_grad_(False)
        self.tokenizer = tokenizer
        cfg = model.config
        vc, tc = cfg.vision_config, cfg.text_config
        self.naflex = cfg.model_type == "siglip2"
        self.patch_size = vc.patch_size
        self.image_size = vc.patch_size * math.isqrt(vc.num_patches) if self.naflex else vc.image_size
        self.embed_dim = vc.hidden_size
        if getattr(tc, "projection_size", vc.hidden_size) != vc.hidden_size:
            raise TeacherLoadError(f"teacher {source!r}: text embeddings ({tc.projection_size}) and image embeddings "
                                   f"({vc.hidden_size}) differ in size")
        self.text_context_length, self.vocab_size = tc.max_position_embeddings, tc.vocab_size
        self.context_length = 77  # the CLIP BPE ids it reads (decoded, then tokenized with its own tokenizer)
        mean, std, interpolation = _processor_defaults(self.naflex)
        self.preprocess_cfg = {"image_size": self.image_size, "resize_mode": "shortest" if self.naflex else "squash",
                               "interpolation": interpolation, "mean": mean, "std": std}
        self.scoring = Scoring((Member(self.label, self.embed_dim, "sigmoid", float(model.logit_scale.exp()),
                                       float(model.logit_bias)),))
        self.eval()

    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale.exp().reshape(())

    def image_towers(self) -> list[nn.Module]:
        return [self.clip.vision_model]

    def text_towers(self) -> list[nn.Module]:
        return [self.clip.text_model]

    def own_text_inputs(self, ids: torch.Tensor) -> dict:
        """CLIP ids -> this model's text inputs. A random architecture has no tokenizer: its ids are the CLIP ids
        folded into its vocabulary (id mod vocab) and zero-padded to its context -- the real shapes and costs of
        a meaningless input, like its weights."""
        if self.tokenizer is None:
            out = torch.zeros(ids.shape[0], self.text_context_length, dtype=torch.long, device=ids.device)
            n = min(ids.shape[1], self.text_context_length)
            out[:, :n] = ids[:, :n].long() % self.vocab_size
            return {"input_ids": out}
        enc = self.tokenizer(captions_from_ids(ids), padding="max_length", truncation=True,
                             max_length=self.text_context_length, return_tensors="pt")
        return {k: enc[k].to(ids.device) for k in ("input_ids", "attention_mask") if k in enc}

    def _vision_inputs(self, images: torch.Tensor) -> dict:
        if not self.naflex:
            return {"pixel_values": images}
        b, c, h, w = images.shape
        p = self.patch_size
        patches = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        return {"pixel_values": patches,
                "pixel_attention_mask": torch.ones(b, patches.shape[1], dtype=torch.int32, device=images.device),
                "spatial_shapes": torch.tensor([[h // p, w // p]] * b, dtype=torch.long, device=images.device)}

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> dict:
        out = self.clip.vision_model(**self._vision_inputs(images))
        return {"image_features": out.pooler_output, "image_embeds": F.normalize(out.pooler_output, dim=-1)}

    def _encode_own(self, inputs: dict) -> torch.Tensor:
        return F.normalize(self.clip.text_model(**inputs).pooler_output, dim=-1)

    def text_tower_call(self, ids: torch.Tensor):
        return self._encode_own, self.own_text_inputs(ids)

    @torch.no_grad()
    def text_features(self, ids: torch.Tensor) -> dict:
        out = self.clip.text_model(**self.own_text_inputs(ids))
        return {"text_features": out.pooler_output, "text_embeds": F.normalize(out.pooler_output, dim=-1)}


def load_siglip(name: str, config) -> SiglipTeacher:
    """``from_pretrained`` of the model class and tokenizer of ``config.model_type`` (siglip | siglip2)."""
    from transformers import AutoTokenizer, Siglip2Model, SiglipModel

    cls = Siglip2Model if config.model_type == "siglip2" else SiglipModel
    try:
        model = cls.from_pretrained(name)
    except Exception as e:
        raise hf_load_error(name, e) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as e:
        raise TeacherLoadError(f"SigLIP teacher {name!r}: no tokenizer beside the model ({first_line(e)}) -- SigLIP "
                               "reads captions with its own tokenizer: save it there with tokenizer.save_pretrained")
    return SiglipTeacher(model, name, tokenizer)


def siglip_base_config(vocab_size: int):
    """SiglipConfig of google/siglip-base-patch16-224 (vocab 32,000) and google/siglip2-base-patch16-224 (vocab
    256,000, Gemma's tokenizer), spelled out (no download)."""
    from transformers import SiglipConfig

    text = dict(vocab_size=vocab_size, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=64, hidden_act="gelu_pytorch_tanh",
                layer_norm_eps=1e-6, projection_size=768, pad_token_id=1, bos_token_id=None, eos_token_id=None)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  image_size=224, patch_size=16, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
    return SiglipConfig(text_config=text, vision_config=vision)


def random_siglip(name: str) -> SiglipTeacher:
    from transformers import SiglipModel

    vocab, label = {RANDOM_SIGLIP_B16: (32000, "SigLIP B/16-224 architecture"),
                    RANDOM_SIGLIP2_B16: (256000, "SigLIP2 B/16-224 architecture")}[name]
    return SiglipTeacher(SiglipModel(siglip_base_config(vocab)), label, random_weights=True)  # seed 0: build_teacher
