"""Student + KD heads + losses + loss balancer in one module (one DDP wrapper syncs all their gradients)."""
from __future__ import annotations

from torch import nn

from ..errors import TrainError
from ..losses import (AffinityMimicLoss, ClipLoss, FeatureDistillLoss, InteractiveContrastiveLoss, KDHeads,
                     ResponseDistillLoss, UncertaintyBalancer)
from .schedule import ALL_TERMS

class KDModule(nn.Module):
    """Student + KD heads + losses + balancer in one module (one DDP wrapper syncs all their gradients)."""

    def __init__(self, student: nn.Module, teacher_dim: int | None, fd_kind: str, temperature: float,
                 balancer: str, affinity: bool):
        super().__init__()
        self.student = student
        self.heads = KDHeads(student.embed_dim, teacher_dim) if teacher_dim else None
        self.clip_loss = ClipLoss()
        self.fd = FeatureDistillLoss(fd_kind)
        self.icl = InteractiveContrastiveLoss()
        self.rd = ResponseDistillLoss(temperature)
        self.am = AffinityMimicLoss(temperature) if affinity else None
        self.balancer = UncertaintyBalancer(ALL_TERMS, mode=balancer)

    def forward(self, images, ids, active: list[str], teacher: dict | None = None):
        out = self.student(images, ids)
        s_img, s_txt, scale = out["image_embeds"], out["text_embeds"], out["logit_scale"]
        terms = {}
        if "contrastive" in active:
            terms.update(self.clip_loss(s_img, s_txt, scale))
        if any(t != "contrastive" for t in active):
            if teacher is None:
                raise TrainError("a KD phase needs teacher embeddings")
            t_img, t_txt, t_scale = teacher["image_embeds"], teacher["text_embeds"], teacher["logit_scale"]
            m_img, m_txt = self.heads.map_image(s_img), self.heads.map_text(s_txt)
            if "fd_image" in active:
                terms.update(self.fd(m_img, m_txt, t_img, t_txt))
            if "icl_image" in active:
                terms.update(self.icl(m_img, m_txt, t_img, t_txt, scale))
            if "rd_i2t" in active:
                terms.update(self.rd(s_img, s_txt, scale, t_img, t_txt, t_scale))
            if "am_image" in active and self.am is not None:
                terms.update(self.am(s_img, s_txt, scale, t_img, t_txt, t_scale))
        total, weighted = self.balancer(terms)
        return total, terms, weighted

