"""Gathering embeddings across DDP ranks so batch-coupled losses see every rank's samples as negatives.

Semantics follow open_clip's ``gather_features`` (``--gather-with-grad``, ``--local-loss``), with one deliberate
difference in the default mode, so that the gradient DDP produces (the *mean* over ranks) is exactly the
gradient of the same loss computed by one process on the concatenated global batch:

* ``gather_with_grad=True``: a differentiable all-gather; its backward sums, over ranks, every rank's
  gradient for this rank's slice (a reduce-scatter), so each rank's features get ``W x`` the global-loss
  gradient and DDP's mean over ``W`` ranks gives back exactly the global gradient.
* ``gather_with_grad=False`` (default): the other ranks' features are constants and this rank's own slice is
  the live local tensor (the gradient flows through local features only, as in open_clip). Each rank then
  holds the only gradient path to its own features, i.e. ``1/W`` of what DDP's mean needs; the own slice
  therefore carries a ``x W`` gradient scale (identity forward). open_clip leaves that out, which shrinks the
  contrastive terms' gradient by ``W`` relative to per-sample terms (feature distillation) and to the logit
  scale; here every term keeps its single-process weight.
* ``local_loss=True``: each rank computes only its own rows (its samples as anchors) against all gathered
  candidates, with targets offset by ``rank * n_local``; the loss value is this rank's share and the mean over
  ranks equals the global loss. Only exact with ``gather_with_grad=True`` (without it the gradient through
  other ranks' rows to this rank's candidates is lost), so that combination is refused.

Every rank must contribute the same number of samples (the trainer drops the last partial batch).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class GatherSpec:
    """How batch-coupled losses see the other ranks. ``world_size == 1`` (the default) means no gathering."""

    local_loss: bool = False
    gather_with_grad: bool = False
    rank: int = 0
    world_size: int = 1

    def __post_init__(self):
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} / world size {self.world_size} is not a valid process index")
        if self.local_loss and not self.gather_with_grad:
            raise ValueError("local_loss needs gather_with_grad: without it the gradient through the other ranks' "
                             "rows to this rank's features is lost")

    @classmethod
    def from_process_group(cls, local_loss: bool = False, gather_with_grad: bool = False) -> "GatherSpec":
        """Rank and world size from the initialised default process group (1 process when there is none)."""
        if dist.is_available() and dist.is_initialized():
            return cls(local_loss, gather_with_grad, dist.get_rank(), dist.get_world_size())
        return cls(local_loss, gather_with_grad)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, ...)`` local -> ``(world_size * n, ...)`` in rank order, with the gradient semantics above.

        A tensor that needs no gradient (teacher embeddings) is gathered as a plain constant."""
        if not self.distributed:
            return x
        if not x.requires_grad:
            return _all_gather_constant(x)
        if self.gather_with_grad:
            return _AllGatherWithGrad.apply(x)
        parts = list(_all_gather_constant(x).chunk(self.world_size))
        parts[self.rank] = _ScaleGrad.apply(x, float(self.world_size))
        return torch.cat(parts)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(anchors, candidates)``: the rows a loss computes (local samples with ``local_loss``, else the
        gathered batch) and the gathered batch they are scored against."""
        everyone = self.gather(x)
        return (x if self.local_loss else everyone), everyone

    def anchors(self, x: torch.Tensor) -> torch.Tensor:
        """Only the anchors of :meth:`split` (no gather at all with ``local_loss``)."""
        return x if self.local_loss else self.gather(x)

    def offset(self, n_local: int) -> int:
        """Index of this rank's first anchor in the gathered batch (0 unless ``local_loss``)."""
        return self.rank * n_local if self.local_loss and self.distributed else 0


LOCAL = GatherSpec()


def _all_gather_constant(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().contiguous()
    out = torch.empty((dist.get_world_size() * x.shape[0], *x.shape[1:]), dtype=x.dtype, device=x.device)
    dist.all_gather(list(out.chunk(dist.get_world_size())), x)
    return out


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather whose backward returns, to each rank, the sum over ranks of the gradients of its slice."""

    @staticmethod
    def forward(ctx, x):
        return _all_gather_constant(x)

    @staticmethod
    def backward(ctx, grad):
        world, rank = dist.get_world_size(), dist.get_rank()
        grad = grad.contiguous()
        if dist.get_backend() == "nccl":
            out = torch.empty_like(grad.chunk(world)[rank])
            dist.reduce_scatter_tensor(out, grad)
            return out
        grad = grad.clone()  # gloo has no reduce-scatter: sum everything, keep this rank's slice
        dist.all_reduce(grad)
        return grad.chunk(world)[rank].contiguous()


class _ScaleGrad(torch.autograd.Function):
    """Identity forward, gradient multiplied by ``scale``."""

    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None
