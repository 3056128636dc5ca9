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
  similarity distributions, with a temperature, multiplied by T^2 (Hinton et al.); a SigLIP teacher's
  per-pair sigmoid probabilities are distilled with a binary KL, an ensemble's members each in their own scoring.
* :class:`AffinityMimicLoss` (optional) -- the same KL on *intra-modal* affinities (image-image,
  text-text), teaching the student the teacher's neighbourhood structure.

The batch-coupled losses (all but feature distillation) take a :class:`~mobileclip.training.distributed.GatherSpec`:
under DDP every rank's student and teacher embeddings are all-gathered so the negatives span the global
batch (``local_loss``/``gather_with_grad`` as in open_clip; see ``mobileclip.training.distributed`` for the gradient
semantics). The default is one process: nothing is gathered.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import LOCAL, GatherSpec


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


class _Gathered(nn.Module):
    """Base of the batch-coupled losses: ``gather`` says how other DDP ranks' samples join the batch."""

    def __init__(self, gather: GatherSpec = LOCAL):
        super().__init__()
        self.gather = gather


class ClipLoss(_Gathered):
    """Symmetric CLIP contrastive loss: mean of image->text and text->image cross-entropy."""

    def forward(self, image_embeds, text_embeds, logit_scale) -> dict:
        g = self.gather
        img_rows, img_all = g.split(image_embeds)
        txt_rows, txt_all = g.split(text_embeds)
        i2t = logit_scale * img_rows @ txt_all.T
        t2i = logit_scale * txt_rows @ img_all.T if g.local_loss else i2t.T
        t = _targets(i2t.shape[0], i2t.device) + g.offset(image_embeds.shape[0])
        return {"contrastive": (F.cross_entropy(i2t, t) + F.cross_entropy(t2i, t)) / 2}


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


class InteractiveContrastiveLoss(_Gathered):
    """CLIP-KD interactive contrastive learning: the student's anchors against the teacher's other modality."""

    def forward(self, s_image, s_text, t_image, t_text, logit_scale) -> dict:
        g = self.gather
        s_img_rows, s_txt_rows = g.anchors(s_image), g.anchors(s_text)
        t_img_all, t_txt_all = g.gather(t_image), g.gather(t_text)
        t = _targets(s_img_rows.shape[0], s_image.device) + g.offset(s_image.shape[0])
        return {"icl_image": F.cross_entropy(logit_scale * s_img_rows @ t_txt_all.T, t),
                "icl_text": F.cross_entropy(logit_scale * s_txt_rows @ t_img_all.T, t)}


def _kl_rows(student_logits, teacher_logits, temperature: float):
    """KL(teacher || student) over rows of logit matrices, batch-mean, times T^2."""
    T = temperature
    log_p_s = F.log_softmax(student_logits / T, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / T, dim=-1)
    return F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * T * T


def _binary_kl(student_logits, teacher_logits, temperature: float):
    """Sum over the pairs of a row of KL(Bernoulli(sigmoid(t)) || Bernoulli(sigmoid(s))), mean over rows, times T^2:
    SigLIP's per-pair probabilities distilled (normalised like SigLIP's loss: summed over pairs / batch size)."""
    T = temperature
    s, t = student_logits / T, teacher_logits / T
    p = torch.sigmoid(t)
    kl = p * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p) * (F.logsigmoid(-t) - F.logsigmoid(-s))
    return kl.sum(-1).mean() * T * T


def _mean_probs_kl(student_logits, teacher_logits: list, temperature: float):
    """KL(mean_k softmax(teacher_k / T) || softmax(student / T)) over rows, batch-mean, times T^2 (MobileCLIP's
    ensemble target: the teachers' probabilities averaged after the softmax)."""
    T = temperature
    log_p_s = F.log_softmax(student_logits / T, dim=-1)
    log_p_t = torch.stack([F.log_softmax(t / T, dim=-1) for t in teacher_logits])
    log_mean = torch.logsumexp(log_p_t, dim=0) - math.log(len(teacher_logits))
    return F.kl_div(log_p_s, log_mean, log_target=True, reduction="batchmean") * T * T


def _blocks(x, dims):
    """An ensemble embedding's member blocks, each L2-normalised (the member's own embedding)."""
    return [F.normalize(b, dim=-1) for b in torch.split(x, list(dims), dim=-1)]


class ResponseDistillLoss(_Gathered):
    """KL between the teacher's and the student's image-text similarity distributions, both directions.

    With a softmax (CLIP) teacher each side uses its own logit scale (CLIP logits), then both are divided by
    ``temperature``. ``scoring`` (the teacher's :class:`~mobileclip.models.teacher.Scoring`) changes that:

    * a ``sigmoid`` member (SigLIP) scores every pair on its own, ``p = sigmoid(scale * cos + bias)``; the student's
      cosines get the member's scale and bias (the student has no bias of its own) and the loss is the binary KL
      between the two probabilities per pair (:func:`_binary_kl`);
    * an ensemble's ``softmax`` members give one target, their softmax probabilities averaged (each member's block of
      the embedding, its own scale), as MobileCLIP's ``--distill-average-after-softmax``; each ``sigmoid`` member gives
      its own binary KL; the terms are weighted by their share of the members.
    """

    def __init__(self, temperature: float = 1.0, gather: GatherSpec = LOCAL):
        super().__init__(gather)
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.temperature = temperature

    def _scored(self, s_sim, t_rows, t_cols, s_scale, scoring):
        """The loss of one direction: student cosines ``s_sim``, teacher rows/columns (ensemble embeddings)."""
        members, T = scoring.members, self.temperature
        dims = [m.dim for m in members]
        sims = [r @ c.T for r, c in zip(_blocks(t_rows, dims), _blocks(t_cols, dims))]
        soft = [m.scale * sim for m, sim in zip(members, sims) if m.kind == "softmax"]
        total = _mean_probs_kl(s_scale * s_sim, soft, T) * len(soft) if soft else 0.0
        for m, sim in zip(members, sims):
            if m.kind == "sigmoid":
                total = total + _binary_kl(m.scale * s_sim + m.bias, m.scale * sim + m.bias, T)
        return total / len(members)

    def forward(self, s_image, s_text, s_scale, t_image, t_text, t_scale, scoring=None) -> dict:
        g = self.gather
        (si_rows, si_all), (st_rows, st_all) = g.split(s_image), g.split(s_text)
        (ti_rows, ti_all), (tt_rows, tt_all) = g.split(t_image), g.split(t_text)
        if scoring is not None and not scoring.plain_softmax:
            i2t = self._scored(si_rows @ st_all.T, ti_rows, tt_all, s_scale, scoring)
            t2i = self._scored(st_rows @ si_all.T, tt_rows, ti_all, s_scale, scoring)
            return {"rd_i2t": i2t, "rd_t2i": t2i}
        s, t = s_scale * si_rows @ st_all.T, t_scale * ti_rows @ tt_all.T
        if g.local_loss:
            s2, t2 = s_scale * st_rows @ si_all.T, t_scale * tt_rows @ ti_all.T
        else:
            s2, t2 = s.T, t.T
        return {"rd_i2t": _kl_rows(s, t, self.temperature), "rd_t2i": _kl_rows(s2, t2, self.temperature)}


class AffinityMimicLoss(_Gathered):
    """Intra-modal affinity mimicking: KL between image-image (text-text) similarity rows, diagonal masked."""

    def __init__(self, temperature: float = 1.0, gather: GatherSpec = LOCAL):
        super().__init__(gather)
        self.temperature = temperature

    def _one(self, s, t, s_scale, t_scale):
        g = self.gather
        (s_rows, s_all), (t_rows, t_all) = g.split(s), g.split(t)
        rows = torch.arange(s_rows.shape[0], device=s.device)
        self_pair = torch.zeros(s_rows.shape[0], s_all.shape[0], dtype=torch.bool, device=s.device)
        self_pair[rows, rows + g.offset(s.shape[0])] = True
        big = -1e4  # masked self-similarity: both sides get the same (finite) value
        ss = (s_scale * s_rows @ s_all.T).masked_fill(self_pair, big)
        tt = (t_scale * t_rows @ t_all.T).masked_fill(self_pair, big)
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

    def forward(self, terms: dict[str, torch.Tensor], detach_weights: bool = False
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``terms`` -> (total, weighted terms). Unknown term names are an error (no silent drop).

        ``detach_weights``: same values, but no gradient reaches the balancer's parameters (feature-cached
        accumulation computes it in one pass of N, see ``mobileclip.training.accumulate``)."""
        log_vars = self.log_vars.detach() if detach_weights else self.log_vars
        total, weighted = 0.0, {}
        for name, value in terms.items():
            if name not in self._index:
                raise KeyError(f"balancer has no weight for loss term {name!r}")
            s = log_vars[self._index[name]]
            w = torch.exp(-s) * value
            weighted[name] = w
            total = total + w + (s if self.mode == "uncertainty" else 0.0)
        return total, weighted
