"""The trainer's KD module in miniature: linear towers (student dim 6), projecting KD heads (teacher dim 8), a
learned logit scale, every KD loss and the learned balancer -- split the way accumulation needs (``features``
before the splice, the losses after). Built once here for the accumulation and the DDP tests."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobileclip.training.accumulate import Splice
from mobileclip.training.distributed import GatherSpec
from mobileclip.training.losses import (AffinityMimicLoss, ClipLoss, FeatureDistillLoss, InteractiveContrastiveLoss,
                                        KDHeads, ResponseDistillLoss, UncertaintyBalancer)

TERMS = ["contrastive", "fd_image", "fd_text", "icl_image", "icl_text", "rd_i2t", "rd_t2i", "am_image", "am_text"]


class ToyKD(nn.Module):
    """``model(batch, splice)`` -> (balanced total, terms); a batch is ``(x_img (n, 5), x_txt (n, 7), teacher
    image (n, 8), teacher text (n, 8))``."""

    def __init__(self, gather: GatherSpec = GatherSpec(), fd_loss: str = "cosine", dropout: float = 0.0,
                 batchnorm: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6) if batchnorm else nn.Identity(),
                                   nn.Dropout(dropout))
        self.text = nn.Linear(7, 6)
        self.log_scale = nn.Parameter(torch.tensor(2.0))
        self.heads = KDHeads(6, 8)
        self.clip, self.fd, self.icl = ClipLoss(gather), FeatureDistillLoss(fd_loss), InteractiveContrastiveLoss(gather)
        self.rd, self.am = ResponseDistillLoss(2.0, gather), AffinityMimicLoss(1.5, gather)
        self.balancer = UncertaintyBalancer(TERMS)
        with torch.no_grad():
            self.balancer.log_vars.copy_(torch.linspace(-0.5, 0.7, len(TERMS)))
        self.seen_live = []

    def features(self, mb):
        x_img, x_txt, t_img, t_txt = mb
        s_img, s_txt = F.normalize(self.image(x_img), dim=-1), F.normalize(self.text(x_txt), dim=-1)
        return {"s_img": s_img, "s_txt": s_txt, "m_img": self.heads.map_image(s_img),  # heads before the splice
                "m_txt": self.heads.map_text(s_txt), "scale": self.log_scale.exp(), "t_img": t_img, "t_txt": t_txt}

    def loss_terms(self, f: dict) -> dict:
        s_img, s_txt, m_img, m_txt = f["s_img"], f["s_txt"], f["m_img"], f["m_txt"]
        scale, t_img, t_txt = f["scale"], f["t_img"], f["t_txt"]
        t_scale = torch.tensor(20.0)
        terms = dict(self.clip(s_img, s_txt, scale))
        terms.update(self.fd(m_img, m_txt, t_img, t_txt))
        terms.update(self.icl(m_img, m_txt, t_img, t_txt, scale))
        terms.update(self.rd(s_img, s_txt, scale, t_img, t_txt, t_scale))
        terms.update(self.am(s_img, s_txt, scale, t_img, t_txt, t_scale))
        return terms

    def terms(self, *batch) -> dict:
        return self.loss_terms(self.features(batch))

    def forward(self, mb, splice: Splice | None = None):
        f = self.features(mb)
        if splice is not None:
            self.seen_live.append((splice.j, {k: v.detach() for k, v in f.items()}))
            f = splice.splice(f)
        terms = self.loss_terms(f)
        total, _ = self.balancer(terms, detach_weights=splice is not None and not splice.loss_params_live)
        return total, terms
