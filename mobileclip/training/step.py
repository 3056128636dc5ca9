"""One optimizer step's forward and backward: micro-batches on the device, the teacher (online or cached) once
per micro-batch, precision (autocast + GradScaler), feature-cached accumulation over ``--accum-freq``
micro-batches, and the loss values averaged over DDP ranks for logging."""
from __future__ import annotations

import torch

from .accumulate import accumulate_step
from ..models.tokenizer import trim_padding
from .run import Run


def teacher_outputs(run: Run, variant: int, idx, t_images, ids, active) -> dict | None:
    """The teacher's embeddings of one micro-batch (cache lookup or a no-grad forward), fp32; None when the
    phase needs none."""
    if not run.kd or active == ["contrastive"]:
        return None
    if run.cache is not None:
        return run.cache.lookup(variant, idx, run.device)
    with torch.no_grad(), run.prec.autocast():
        t_out = run.teacher(t_images, ids)
    out = {k: t_out[k].float() for k in ("image_embeds", "text_embeds", "logit_scale")}
    return {**out, "scoring": t_out["scoring"]}  # softmax (CLIP) or sigmoid (SigLIP) members: the RD loss follows


def micro_batch(run: Run, batch, variant: int, active) -> tuple:
    """A loader batch -> ``(student images, token ids, teacher outputs or None)`` on the device."""
    images, ids, idx = batch
    ids = trim_padding(ids).to(run.device)
    if isinstance(images, (list, tuple)):
        s_images, t_images = images[0].to(run.device), images[1].to(run.device)
    else:
        s_images = t_images = images.to(run.device)
    s_images = s_images.contiguous(memory_format=run.layout)
    return s_images, ids, teacher_outputs(run, variant, idx, t_images, ids, active)


def forward_backward(run: Run, mbs: list, active) -> tuple[torch.Tensor, dict]:
    """Loss of the (accumulated) batch and its gradient in the parameters' ``.grad`` (scaled by the
    GradScaler under fp16). Returns ``(total, terms)`` of this rank."""
    def backward(t):
        run.scaler.scale(t).backward()

    if len(mbs) == 1:
        s_images, ids, t_out = mbs[0]
        with run.prec.autocast():
            total, terms, _ = run.ddp(s_images, ids, active, t_out)
        backward(total)
        return total, terms
    module = run.module

    def encode(mb):
        with run.prec.autocast():
            return module.features(*mb)

    def forward(mb, splice):
        with run.prec.autocast():
            return run.ddp(mb[0], mb[1], active, mb[2], splice=splice)

    total, terms, _ = accumulate_step(mbs, encode, forward, backward, model=module,
                                      no_sync=getattr(run.ddp, "no_sync", None))
    return total, terms


def mean_over_ranks(run: Run, total: torch.Tensor, terms: dict) -> tuple[float, dict]:
    """The total and each term as floats, averaged over DDP ranks (with ``--local-loss`` each rank holds its
    share of the global loss; otherwise the ranks agree up to rounding)."""
    names = list(terms)
    t = torch.stack([total.detach().float(), *[terms[k].detach().float() for k in names]])
    if run.distributed:
        torch.distributed.all_reduce(t)
        t = t / run.world
    vals = t.tolist()
    return vals[0], dict(zip(names, vals[1:]))
