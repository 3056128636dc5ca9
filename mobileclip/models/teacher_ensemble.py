"""An ensemble of teachers (``ensemble:A,B``), distilled as MobileCLIP distils its two CLIP teachers.

MobileCLIP (Vasu et al., CVPR 2024; DataCompDR) stores the ensemble's embeddings *concatenated*, one block per
teacher (``--distill-teacher-dimension 768 768`` in apple/ml-mobileclip's open_clip patch), and distils the average
of the teachers' similarity distributions (``--distill-average-after-softmax``). This ensemble does the same:

* its embedding is the members' L2-normalised embeddings concatenated, then normalised (each block scaled by
  1/sqrt(K)), so a cosine between two ensemble embeddings is the *mean of the members' cosines*; feature and
  interactive-contrastive distillation and the student's KD heads (sized to the sum of the members' dims) use it;
* response distillation scores each member's block with that member's own scoring (:attr:`scoring`: softmax with
  its logit scale, or SigLIP's sigmoid with scale and bias) and averages over members
  (:class:`mobileclip.training.losses.ResponseDistillLoss`).

Averaging the embeddings instead is not an option for mixed teachers: their spaces differ in size (CLIP 512,
SigLIP 768) and, even when equal, are unrelated rotations of each other. Each member reads the same captions (its own
tokenizer) and the same crop: when the members' preprocessing differs, the ensemble takes [0, 1] pixels at the
largest member resolution and each member resizes (antialiased bicubic on the tensor, when its size differs) and
normalises them with its own mean and std.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .teacher_base import Scoring, TeacherBase

_VIEW_KEYS = ("image_size", "mean", "std", "interpolation", "resize_mode")


class EnsembleTeacher(TeacherBase):
    family = "ensemble"

    def __init__(self, members: list[TeacherBase]):
        super().__init__(" + ".join(m.label for m in members), any(m.random_weights for m in members))
        self.members = nn.ModuleList(members)
        self.embed_dim = sum(m.embed_dim for m in members)
        self.dims = [m.embed_dim for m in members]
        self.context_length = min(m.context_length for m in members)
        self.text_context_length = max(getattr(m, "text_context_length", m.context_length) for m in members)
        first = members[0].preprocess_cfg
        self.shared_view = all({k: m.preprocess_cfg.get(k) for k in _VIEW_KEYS} == {k: first.get(k) for k in _VIEW_KEYS}
                               for m in members)
        self.image_size = max(m.image_size for m in members)
        self.preprocess_cfg = dict(first) if self.shared_view else {
            "image_size": self.image_size, "resize_mode": "shortest", "interpolation": "bicubic",
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
        self.scoring = Scoring(tuple(mem for m in members for mem in m.scoring.members))
        self.eval()

    @property
    def label(self) -> str:  # the members' labels say which of them have random weights
        return "ensemble(" + " + ".join(m.label for m in self.members) + ")"

    def logit_scale(self) -> torch.Tensor:
        """The members' mean logit scale (what the intra-modal affinity loss uses; response distillation uses
        each member's own)."""
        return torch.stack([m.logit_scale() for m in self.members]).mean()

    def image_towers(self) -> list[nn.Module]:
        return [t for m in self.members for t in m.image_towers()]

    def text_towers(self) -> list[nn.Module]:
        return [t for m in self.members for t in m.text_towers()]

    def member_view(self, member: TeacherBase, images: torch.Tensor) -> torch.Tensor:
        """The ensemble's input (its ``preprocess_cfg``) as ``member`` expects it."""
        if self.shared_view:
            return images
        cfg = member.preprocess_cfg
        if images.shape[-1] != member.image_size:
            images = F.interpolate(images, size=(member.image_size, member.image_size), mode=cfg["interpolation"],
                                   antialias=True, align_corners=False).clamp(0, 1)
        mean = torch.tensor(cfg["mean"], dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(cfg["std"], dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        return (images - mean) / std

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> dict:
        blocks = torch.cat([m.encode_image(self.member_view(m, images)) for m in self.members], dim=-1)
        return {"image_blocks": blocks, "image_embeds": F.normalize(blocks, dim=-1)}

    def text_tower_call(self, ids: torch.Tensor):
        calls = [m.text_tower_call(ids) for m in self.members]

        def encode(inputs):
            return F.normalize(torch.cat([fn(x) for (fn, _), x in zip(calls, inputs)], dim=-1), dim=-1)
        return encode, [x for _, x in calls]

    @torch.no_grad()
    def text_features(self, ids: torch.Tensor) -> dict:
        blocks = torch.cat([m.encode_text(ids) for m in self.members], dim=-1)
        return {"text_blocks": blocks, "text_embeds": F.normalize(blocks, dim=-1)}
