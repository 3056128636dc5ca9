"""Student + KD heads + losses + loss balancer in one module (one DDP wrapper syncs all their gradients)."""
from __future__ import annotations

import torch
from torch import nn

from .distributed import GatherSpec
from ..utils.errors import TrainError
from .losses import (AffinityMimicLoss, ClipLoss, FeatureDistillLoss, InteractiveContrastiveLoss, KDHeads,
                     ResponseDistillLoss, UncertaintyBalancer)
from .schedule import ALL_TERMS

class KDModule(nn.Module):
    """Student + KD heads + losses + balancer in one module (one DDP wrapper syncs all their gradients).

    :meth:`features` runs everything applied per sample (towers, KD heads); :meth:`forward` adds the batch-
    coupled losses and the balancer, optionally after splicing the features into a feature-cached accumulated
    batch (:mod:`mobileclip.training.accumulate`). ``gather``: how the losses see the other DDP ranks' samples."""

    def __init__(self, student: nn.Module, teacher_dim: int | None, fd_kind: str, temperature: float,
                 balancer: str, affinity: bool, gather: GatherSpec = GatherSpec()):
        super().__init__()
        self.student = student
        self.heads = KDHeads(student.embed_dim, teacher_dim) if teacher_dim else None
        self.clip_loss = ClipLoss(gather=gather)
        self.fd = FeatureDistillLoss(fd_kind)
        self.icl = InteractiveContrastiveLoss(gather=gather)
        self.rd = ResponseDistillLoss(temperature, gather=gather)
        self.am = AffinityMimicLoss(temperature, gather=gather) if affinity else None
        self.balancer = UncertaintyBalancer(ALL_TERMS, mode=balancer)

    def features(self, images, ids, teacher: dict | None = None) -> dict:
        """Student embeddings (``s_img``, ``s_txt``), the logit ``scale``, with a teacher also the KD-head-mapped
        student embeddings (``m_img``, ``m_txt``) and the teacher's (``t_img``, ``t_txt``, ``t_scale``)."""
        out = self.student(images, ids)
        f = {"s_img": out["image_embeds"], "s_txt": out["text_embeds"], "scale": out["logit_scale"]}
        if teacher is not None:
            if self.heads is None:
                raise TrainError("teacher embeddings given to a model without KD heads (a --no-kd run)")
            f.update(m_img=self.heads.map_image(f["s_img"]), m_txt=self.heads.map_text(f["s_txt"]),
                     t_img=teacher["image_embeds"], t_txt=teacher["text_embeds"], t_scale=teacher["logit_scale"])
        return f

    def losses(self, f: dict, active: list[str], scoring=None) -> dict:
        """The active loss terms on features ``f`` (in fp32, outside any autocast); ``scoring``: how the teacher
        scores pairs (:class:`~mobileclip.models.teacher.Scoring`; None: one softmax teacher)."""
        f = {k: v.float() for k, v in f.items()}
        terms = {}
        with torch.autocast(f["s_img"].device.type, enabled=False):
            if "contrastive" in active:
                terms.update(self.clip_loss(f["s_img"], f["s_txt"], f["scale"]))
            if any(t != "contrastive" for t in active):
                if "t_img" not in f:
                    raise TrainError("a KD phase needs teacher embeddings")
                s_img, s_txt, scale, m_img, m_txt = f["s_img"], f["s_txt"], f["scale"], f["m_img"], f["m_txt"]
                t_img, t_txt, t_scale = f["t_img"], f["t_txt"], f["t_scale"]
                if "fd_image" in active:
                    terms.update(self.fd(m_img, m_txt, t_img, t_txt))
                if "icl_image" in active:
                    terms.update(self.icl(m_img, m_txt, t_img, t_txt, scale))
                if "rd_i2t" in active:
                    terms.update(self.rd(s_img, s_txt, scale, t_img, t_txt, t_scale, scoring))
                if "am_image" in active and self.am is not None:
                    terms.update(self.am(s_img, s_txt, scale, t_img, t_txt, t_scale))
        return terms

    def forward(self, images, ids, active: list[str], teacher: dict | None = None, splice=None):
        """``(total, terms, weighted terms)``; with ``splice`` (a :class:`~mobileclip.training.accumulate.Splice`) the
        losses cover the whole accumulated batch and the balancer's weights get gradient in one pass only."""
        f = self.features(images, ids, teacher)
        if splice is not None:
            f = splice.splice(f)
        terms = self.losses(f, active, teacher.get("scoring") if teacher is not None else None)
        total, weighted = self.balancer(terms, detach_weights=splice is not None and not splice.loss_params_live)
        return total, terms, weighted
