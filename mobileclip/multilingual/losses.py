"""Losses of multilingual text distillation (Reimers & Gurevych 2020; Carlsson et al., Multilingual-CLIP).

The teacher reads the source (English) sentence; the student reads the source sentence *and* its translation.
All embeddings L2-normalised. Terms (unweighted; :class:`ParallelTextLoss` returns them by name):

* ``contrastive`` -- the seed's symmetric CLIP loss (:class:`mobileclip.training.losses.ClipLoss`) between
  student(translation) and teacher(source): in-batch teacher embeddings of other sentences are negatives;
* ``fd_source`` -- feature distillation student(source) -> teacher(source), ``1 - cos``;
* ``fd_translation`` -- feature distillation student(translation) -> teacher(source), ``1 - cos``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..training.losses import ClipLoss, FeatureDistillLoss

TERMS = ("contrastive", "fd_source", "fd_translation")


class ParallelTextLoss(nn.Module):
    def __init__(self, weights: dict[str, float] | None = None):
        super().__init__()
        self.weights = {t: 1.0 for t in TERMS} | dict(weights or {})
        unknown = set(self.weights) - set(TERMS)
        if unknown:
            raise ValueError(f"unknown loss terms {sorted(unknown)}; known: {list(TERMS)}")
        self.clip = ClipLoss()
        self.fd = FeatureDistillLoss("cosine")

    def terms(self, s_source, s_translation, t_source, logit_scale) -> dict[str, torch.Tensor]:
        return {"contrastive": self.clip(s_translation, t_source, logit_scale)["contrastive"],
                "fd_source": self.fd._one(s_source, t_source),
                "fd_translation": self.fd._one(s_translation, t_source)}

    def forward(self, s_source, s_translation, t_source, logit_scale) -> tuple[torch.Tensor, dict]:
        """-> (weighted total, unweighted terms)."""
        terms = self.terms(s_source, s_translation, t_source, logit_scale)
        total = sum(self.weights[k] * v for k, v in terms.items() if self.weights[k])
        return total, terms
