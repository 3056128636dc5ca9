"""Losses for CLIP training and CLIP -> student knowledge distillation (open_clip style).

Every loss is an ``nn.Module`` whose ``forward`` returns a dict of named, unweighted scalar terms; the
trainer decides which terms are active in which phase and how they are weighted (:class:`UncertaintyBalancer`).
All embeddings are expected L2-normalised. Student embeddings that enter a loss against the teacher
must first be mapped into the teacher's space with :class:`KDHeads` (identity when the dims agree).

* :class:`ClipLoss` -- the symmetric InfoNCE of CLIP on the student's own image/text embeddings.
* :class:`FeatureDistillLoss` -- student embedding -> teacher embedding of the same sample
  (``cosine``: 1 - cos, or ``mse``: squared distance *summed* over dimensions, i.e. 2 - 2 cos for unit
  vectors -- not the per-element mean, which is ~1/D of that and vanishes for D=512).
* :class:`InteractiveContrastiveLoss` -- CLIP-KD's ICL: student image vs *teacher* texts and student
  text vs *teacher* images, InfoNCE with the in-batch teacher embeddings as negatives.
* :class:`ResponseDistillLoss` -- KL(teacher || student) between the image->text and text->image
  similarity distributions, with a temperature, multiplied by T^2 (Hinton et al.).
* :class:`AffinityMimicLoss` (optional) -- the same KL on *intra-modal* affinities (image-image,
  text-text), teaching the student the teacher's neighbourhood structure.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _targets(n: int, device) -> torch.Tensor:
    return torch.arange(n, device=device)


class KDHeads(nn.Module):
    """Bias-free ``Linear(student_dim, teacher_dim)`` per tower when the dims differ, identity otherwise.

    Output is re-normalised, so a head learns a rotation/mixing into the teacher's space. Stored in the
    student checkpoint as ``extra["kd_heads"] = {"image": {"weight": W}, "text": {"weight": W}}``.
    """

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.student_dim, self.teacher_dim = student_dim, teacher_dim
        self.projected = student_dim != teacher_dim
        if self.projected:
            self.image = nn.Linear(student_dim, teacher_dim, bias=False)
            self.text = nn.Linear(student_dim, teacher_dim, bias=False)
            for lin in (self.image, self.text):  # semi-orthogonal init: preserves cosines at step 0
                nn.init.orthogonal_(lin.weight)
        else:
            self.image = self.text = None

    def map_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x), dim=-1) if self.projected else x

    def map_text(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(x), dim=-1) if self.projected else x

    def checkpoint_state(self) -> dict | None:
        if not self.projected:
            return None
        return {"image": {"weight": self.image.weight.detach().cpu().clone()},
                "text": {"weight": self.text.weight.detach().cpu().clone()}}


class ClipLoss(nn.Module):
    """Symmetric CLIP contrastive loss: mean of image->text and text->image cross-entropy."""

    def forward(self, image_embeds, text_embeds, logit_scale) -> dict:
        logits = logit_scale * image_embeds @ text_embeds.T
        t = _targets(logits.shape[0], logits.device)
        return {"contrastive": (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2}


class FeatureDistillLoss(nn.Module):
    """Student (mapped) embeddings -> the teacher's embeddings of the same images / captions."""

    def __init__(self, kind: str = "cosine"):
        super().__init__()
        if kind not in ("cosine", "mse"):
            raise ValueError(f"feature distillation kind must be 'cosine' or 'mse', not {kind!r}")
        self.kind = kind

    def _one(self, s, t):
        if self.kind == "cosine":
            return (1 - F.cosine_similarity(s, t, dim=-1)).mean()
        return (s - t).pow(2).sum(-1).mean()  # summed over dims: 2 - 2cos for unit vectors

    def forward(self, s_image, s_text, t_image, t_text) -> dict:
        return {"fd_image": self._one(s_image, t_image), "fd_text": self._one(s_text, t_text)}


class InteractiveContrastiveLoss(nn.Module):
    """CLIP-KD interactive contrastive learning: the student's anchors against the teacher's other modality."""

    def forward(self, s_image, s_text, t_image, t_text, logit_scale) -> dict:
        t = _targets(s_image.shape[0], s_image.device)
        return {"icl_image": F.cross_entropy(logit_scale * s_image @ t_text.T, t),
                "icl_text": F.cross_entropy(logit_scale * s_text @ t_image.T, t)}


def _kl_rows(student_logits, teacher_logits, temperature: float):
    """KL(teacher || student) over rows of logit matrices, batch-mean, times T^2."""
    T = temperature
    log_p_s = F.log_softmax(student_logits / T, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / T, dim=-1)
    return F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * T * T


class ResponseDistillLoss(nn.Module):
    """KL between the teacher's and the student's image-text similarity distributions, both directions.

    Each side uses its own logit scale (CLIP logits), then both are divided by ``temperature``.
    """

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.temperature = temperature

    def forward(self, s_image, s_text, s_scale, t_image, t_text, t_scale) -> dict:
        s = s_scale * s_image @ s_text.T
        t = t_scale * t_image @ t_text.T
        return {"rd_i2t": _kl_rows(s, t, self.temperature), "rd_t2i": _kl_rows(s.T, t.T, self.temperature)}


class AffinityMimicLoss(nn.Module):
    """Intra-modal affinity mimicking: KL between image-image (text-text) similarity rows, diagonal masked."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature

    def _one(self, s, t, s_scale, t_scale):
        n = s.shape[0]
        eye = torch.eye(n, dtype=torch.bool, device=s.device)
        big = -1e4  # masked self-similarity: both sides get the same (finite) value
        ss = (s_scale * s @ s.T).masked_fill(eye, big)
        tt = (t_scale * t @ t.T).masked_fill(eye, big)
        return _kl_rows(ss, tt, self.temperature)

    def forward(self, s_image, s_text, s_scale, t_image, t_text, t_scale) -> dict:
        return {"am_image": self._one(s_image, t_image, s_scale, t_scale),
                "am_text": self._one(s_text, t_text, s_scale, t_scale)}


class UncertaintyBalancer(nn.Module):
    """Automatic loss balancing by learned homoscedastic uncertainty (Kendall, Gal & Cipolla, 2018).

    Each term ``i`` has a learned log-variance ``s_i``; the total is ``sum_i exp(-s_i) * L_i + s_i``.
    The optimum ``exp(s_i) = L_i`` gives each term weight ``1 / L_i``: terms of very different scales
    (a cross-entropy of ~log(B), a cosine distance of ~0.1) are brought to a comparable footing and the
    weights keep moving as the terms shrink. Weights are strictly positive, so no term can be zeroed.
    ``mode="fixed"`` keeps every weight at 1 (the plain sum; for ablations).
    """

    def __init__(self, names: list[str], mode: str = "uncertainty", init: float = 0.0):
        super().__init__()
        if mode not in ("uncertainty", "fixed"):
            raise ValueError(f"balancer must be 'uncertainty' or 'fixed', not {mode!r}")
        self.names, self.mode = list(names), mode
        self.log_vars = nn.Parameter(torch.full((len(self.names),), float(init)),
                                     requires_grad=mode == "uncertainty")
        self._index = {n: i for i, n in enumerate(self.names)}

    def weights(self) -> dict[str, float]:
        return {n: math.exp(-float(self.log_vars[i].detach())) for n, i in self._index.items()}

    def forward(self, terms: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``terms`` -> (total, weighted terms). Unknown term names are an error (no silent drop)."""
        total, weighted = 0.0, {}
        for name, value in terms.items():
            if name not in self._index:
                raise KeyError(f"balancer has no weight for loss term {name!r}")
            s = self.log_vars[self._index[name]]
            w = torch.exp(-s) * value
            weighted[name] = w
            total = total + w + (s if self.mode == "uncertainty" else 0.0)
        return total, weighted
