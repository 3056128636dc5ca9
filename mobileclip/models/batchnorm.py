"""Precise BatchNorm: re-estimate running statistics with the final weights (one definition for training
and export)."""
from __future__ import annotations

import torch
from torch import nn

from ..utils.shims.torch_private import BatchNormBase


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches, max_batches: int | None = None, device=None,
                   distributed: bool = False) -> int:
    """Precise BatchNorm: re-estimate every BN layer's running statistics as the plain average over
    ``max_batches`` (None: all) image batches of ``batches`` (an iterable of image tensors; export passes
    ``images.split(n)``) run through ``model.encode_image`` with the *final* weights (eval-mode BN otherwise
    uses running stats that lag behind fast-moving weights -- torchvision's MobileNetV3 uses momentum 0.01 --
    and a short run can collapse to one output for every image; a randomly initialised one has unit stats that
    do not match its activations). The rest of the model runs in eval mode; its train/eval mode is restored.
    ``distributed``: average the statistics over the process group. Returns the number of batches used."""
    bns = [m for m in model.modules() if isinstance(m, BatchNormBase) and m.track_running_stats]
    if not bns or (max_batches is not None and max_batches <= 0):
        return 0
    momenta = [m.momentum for m in bns]
    was_training = model.training
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    used = 0
    for images in batches:
        model.encode_image(images if device is None else images.to(device))
        used += 1
        if max_batches is not None and used >= max_batches:
            break
    for m, mom in zip(bns, momenta):
        m.momentum = mom
        if distributed:
            for buf in (m.running_mean, m.running_var):
                torch.distributed.all_reduce(buf)
                buf /= torch.distributed.get_world_size()
    model.train(was_training)
    return used

