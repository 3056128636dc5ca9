"""Gradient accumulation with feature caching (open_clip's ``--accum-freq``): negatives span N micro-batches.

One optimizer step over N micro-batches runs two passes:

1. without gradients, compute and cache every micro-batch's embeddings (student and teacher);
2. for each micro-batch ``j``: recompute its embeddings *with* gradients, splice them into the cached
   ones (slot ``j`` live, the others constants) and compute the loss on the whole accumulated batch;
   backward. Pass ``j`` yields the gradient that flows through micro-batch ``j``'s embeddings, so the sum
   over the N passes is the gradient of the loss on the N-times larger batch.

Everything with parameters that is applied per sample (the towers, the KD heads' projections) belongs to the
features, *before* the splice; after it come only the losses. Parameters that enter the loss directly rather
than through the embeddings (the logit scale, the learned
loss-balancing weights) would collect N copies of their gradient. :meth:`Splice.loss_params_live` is True in
exactly one pass (the last one, so that under DDP ``no_sync`` the synchronising pass uses every parameter);
in the other passes the model detaches them: 0-dim entries of the features dict (the logit scale) are
detached by :meth:`Splice.splice` itself, and the balancer is called with ``detach_weights=True``.

Exactness also needs the recomputed embeddings to equal the cached ones: the RNG state (dropout) of each
micro-batch is replayed, and the model's buffers (BatchNorm running statistics) are restored after the cache
pass so they are updated once per micro-batch. BatchNorm in train mode still normalises each micro-batch
with its own statistics (like per-GPU BN under DDP), the one way accumulation differs from a larger batch.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
from torch import nn

Features = dict[str, torch.Tensor]


class Splice:
    """Micro-batch ``j``'s view of the accumulated batch: its live features between the cached others."""

    def __init__(self, cached: list[Features], j: int):
        self.cached, self.j = cached, j

    @property
    def loss_params_live(self) -> bool:
        """Whether parameters used directly by the loss carry gradient in this pass (one pass in N)."""
        return self.j == len(self.cached) - 1

    def splice(self, live: Features) -> Features:
        """Per-sample tensors: the cached ones with slot ``j`` replaced by ``live``; 0-dim tensors (the logit
        scale): ``live``'s, detached unless :attr:`loss_params_live`."""
        if set(live) != set(self.cached[self.j]):
            raise KeyError(f"live features {sorted(live)} != cached {sorted(self.cached[self.j])}")
        out = {}
        for k, v in live.items():
            if v.dim() == 0:
                out[k] = v if self.loss_params_live else v.detach()
            else:
                parts = [c[k] for c in self.cached]
                parts[self.j] = v
                out[k] = torch.cat(parts)
        return out


def _rng_state():
    return torch.get_rng_state(), (torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None)


def _set_rng_state(state):
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state_all(state[1])


@contextlib.contextmanager
def buffers_restored(model: nn.Module | None):
    """Run a block (the cache pass) without leaving a trace in ``model``'s buffers (BN running statistics)."""
    saved = {k: b.detach().clone() for k, b in model.named_buffers()} if model is not None else {}
    try:
        yield
    finally:
        if model is not None:
            with torch.no_grad():
                for k, b in model.named_buffers():
                    b.copy_(saved[k])


def accumulate_step(micro_batches: Iterable, encode: Callable[[object], Features],
                    forward: Callable[[object, Splice], tuple], backward: Callable[[torch.Tensor], None],
                    model: nn.Module | None = None,
                    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None):
    """Run the two passes over ``micro_batches``; return the last pass's ``forward`` output.

    ``encode(mb)``: the features dict of one micro-batch (called under ``torch.no_grad``; the unwrapped model).
    ``forward(mb, splice)``: the training forward (the DDP-wrapped model): features of ``mb`` with gradient,
    ``splice.splice(features)``, the losses on the result, the balancer with
    ``detach_weights=not splice.loss_params_live``; returns ``(total, ...)``.
    ``backward(total)``: e.g. ``scaler.scale(total).backward()``. ``model``: whose buffers the cache pass must
    not change. ``no_sync``: DDP's ``no_sync`` (gradients all-reduced once, in the last pass).
    Every pass computes the loss of the whole accumulated batch (equal values): report the returned one.
    """
    micro_batches = list(micro_batches)
    if not micro_batches:
        raise ValueError("accumulate_step needs at least one micro-batch")
    cached, rng = [], []
    with torch.no_grad(), buffers_restored(model):
        for mb in micro_batches:
            rng.append(_rng_state())
            cached.append({k: v.detach() for k, v in encode(mb).items()})
    out = None
    for j, mb in enumerate(micro_batches):
        _set_rng_state(rng[j])
        last = j == len(micro_batches) - 1
        with (no_sync() if no_sync is not None and not last else contextlib.nullcontext()):
            out = forward(mb, Splice(cached, j))
            backward(out[0] if isinstance(out, tuple) else out)
    return out
