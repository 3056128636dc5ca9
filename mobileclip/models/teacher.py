"""Frozen teachers: Hugging Face CLIP / SigLIP / SigLIP2, open_clip models, and ensembles of them.

``load_teacher(spec)`` reads the ``--teacher`` grammar of :mod:`.teacher_spec`:

* ``openai/clip-vit-base-patch32``, ``hf:NAME`` or a ``save_pretrained`` directory: ``from_pretrained`` of the
  class the config's ``model_type`` names (``CLIPModel``; ``SiglipModel``/``Siglip2Model`` in :mod:`.teacher_siglip`);
* ``open_clip:MODEL/WEIGHTS``: open_clip_torch's ``create_model_and_transforms`` (:mod:`.teacher_open_clip`);
* ``ensemble:A,B``: the members' embeddings concatenated, then normalised (:mod:`.teacher_ensemble`);
* ``vit-b-32-random`` (and the SigLIP ``*-random`` names): the exact architecture with *random* weights, right for
  parameter counts and latency, meaningless for accuracy, and labelled so everywhere.

Every teacher takes the pipeline's inputs -- images preprocessed with its ``preprocess_cfg``, captions as CLIP BPE
ids -- and feeds its own model: a teacher with another tokenizer decodes the ids back to the caption text (lower-
cased and whitespace-cleaned, as the CLIP tokenizer normalises it) and tokenizes that with its own tokenizer.
``scoring`` says how it scores an image-text pair: ``softmax`` with a logit scale (CLIP) or ``sigmoid`` with a
logit scale and bias (SigLIP); the response-distillation loss follows it.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.errors import TeacherLoadError
from .teacher_base import Member, Scoring, TeacherBase, captions_from_ids, hf_load_error, seeded
from .teacher_spec import RANDOM_VIT_B_32, TeacherSpec, parse_teacher_spec
from .tokenizer import eot_attention_mask
from .transform import CLIP_MEAN, CLIP_STD

__all__ = ["DEFAULT_TEACHER", "RANDOM_VIT_B_32", "Member", "Scoring", "Teacher", "TeacherBase", "build_teacher",
           "captions_from_ids", "load_teacher", "vit_b_32_config"]

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


class Teacher(TeacherBase):
    """Frozen HF ``CLIPModel``: reads CLIP BPE ids as they are (padding masked after the end-of-text token)."""

    family = "hf-clip"

    def __init__(self, clip, source: str, random_weights: bool = False):
        super().__init__(source, random_weights)
        self.clip = clip.eval()
        self.clip.requires_grad_(False)
        vc, tc = clip.config.vision_config, clip.config.text_config
        self.embed_dim = clip.config.projection_dim
        self.image_size = vc.image_size
        self.context_length = tc.max_position_embeddings
        self.eot_token_id = tc.eos_token_id
        self.preprocess_cfg = {"image_size": vc.image_size, "resize_mode": "shortest", "interpolation": "bicubic",
                               "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
        self.scoring = Scoring((Member(self.label, self.embed_dim, "softmax", float(clip.logit_scale.exp())),))
        self.eval()

    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale.exp()

    def image_towers(self) -> list[nn.Module]:
        return [self.clip.vision_model, self.clip.visual_projection]

    def text_towers(self) -> list[nn.Module]:
        return [self.clip.text_model, self.clip.text_projection]

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


def _load_hf(name: str) -> TeacherBase:
    from transformers import AutoConfig, CLIPModel

    try:
        config = AutoConfig.from_pretrained(name)
    except Exception as e:  # OSError (offline / missing files), ValueError (no config), ...
        raise hf_load_error(name, e) from None
    if config.model_type in ("siglip", "siglip2"):
        from .teacher_siglip import load_siglip

        return load_siglip(name, config)
    if config.model_type != "clip":
        raise TeacherLoadError(f"teacher {name!r}: model_type {config.model_type!r} is not a CLIP or SigLIP model "
                               "(hf: loads CLIPModel, SiglipModel and Siglip2Model; open_clip models: open_clip:MODEL)")
    try:
        clip = CLIPModel.from_pretrained(name)
    except Exception as e:
        raise hf_load_error(name, e) from None
    return Teacher(clip, name)


def _load_random(name: str) -> TeacherBase:
    warnings.warn(f"teacher {name}: the architecture with RANDOM weights (valid for parameter counts and latency, "
                  "never for accuracy)", stacklevel=3)
    if name == RANDOM_VIT_B_32:
        from transformers import CLIPModel

        return Teacher(CLIPModel(vit_b_32_config()), "ViT-B/32 architecture", random_weights=True)
    from .teacher_siglip import random_siglip

    return random_siglip(name)


def build_teacher(spec: TeacherSpec) -> TeacherBase:
    """A parsed spec -> the frozen teacher (on the CPU). Random initialisation before weights load (open_clip) and
    random architectures draw from seed 0: the caller's RNG is untouched (a run's KD heads init the same either way)."""
    return seeded(lambda: _build(spec))


def _build(spec: TeacherSpec) -> TeacherBase:
    if spec.family == "ensemble":
        from .teacher_ensemble import EnsembleTeacher

        teacher = EnsembleTeacher([_build(m) for m in spec.members])
    elif spec.family == "open_clip":
        from .teacher_open_clip import load_open_clip

        teacher = load_open_clip(spec)
    elif spec.family == "random":
        teacher = seeded(lambda: _load_random(spec.name))  # the same weights wherever it stands in an ensemble
    else:
        teacher = _load_hf(spec.name)
    teacher.spec = spec.canonical()
    return teacher.freeze()


def load_teacher(name_or_path: str = DEFAULT_TEACHER, device: str | torch.device = "cpu") -> TeacherBase:
    """The frozen teacher ``name_or_path`` names (the grammar of :mod:`.teacher_spec`); one-line errors."""
    return build_teacher(parse_teacher_spec(name_or_path)).to(device)
