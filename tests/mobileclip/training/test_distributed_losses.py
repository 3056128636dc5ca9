"""Global negatives: 2 gloo processes on CPU compute every batch-coupled loss with embeddings gathered across
ranks; the loss and every parameter's gradient must equal one process's on the concatenated batch.

Gradient semantics checked here: DDP all-reduces parameter gradients with a *mean* over ranks, so the
per-rank gradients are averaged (by hand with ``all_reduce / W`` for the single terms, and by a real
``DistributedDataParallel`` wrapper for the balanced sum of all terms) and compared with the single-process
gradient of the global loss. With ``local_loss`` each rank's loss value is its share of the rows, so the
loss is averaged too; otherwise every rank holds the full global loss.
"""
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tests.support.dist_helpers import spawn_gloo

from mobileclip.training.distributed import GatherSpec
from tests.support.toy_kd import TERMS, ToyKD

WORLD, N_LOCAL = 2, 4
MODES = {"default": dict(), "gather_with_grad": dict(gather_with_grad=True),
         "local_loss": dict(local_loss=True, gather_with_grad=True)}


class TinyKD(ToyKD):
    """The toy KD module with MSE feature distillation; ``model(*batch)`` -> the balanced total (for DDP)."""

    def __init__(self, gather: GatherSpec):
        super().__init__(gather, fd_loss="mse")

    def forward(self, *batch):
        return self.balancer(self.terms(*batch))[0]


def global_batch():
    g = torch.Generator().manual_seed(1)
    n = WORLD * N_LOCAL
    return (torch.randn(n, 5, generator=g), torch.randn(n, 7, generator=g),
            F.normalize(torch.randn(n, 8, generator=g), dim=-1), F.normalize(torch.randn(n, 8, generator=g), dim=-1))


def grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def close(a, b, what):
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), f"{what}: {a} != {b}"


def _worker(rank):
    full = global_batch()
    local = [x[rank * N_LOCAL:(rank + 1) * N_LOCAL] for x in full]
    ref = TinyKD(GatherSpec())
    ref_terms = ref.terms(*full)
    for mode, opts in MODES.items():
        spec = GatherSpec.from_process_group(**opts)
        assert spec.world_size == WORLD and spec.rank == rank
        model = TinyKD(spec)
        for name in TERMS:  # each term alone: value and gradient of every parameter
            ref.zero_grad()
            ref_terms = ref.terms(*full)
            ref_terms[name].backward()
            want = grads(ref)
            model.zero_grad()
            value = model.terms(*local)[name]
            value.backward()
            value = value.detach().clone()
            if spec.local_loss or name.startswith("fd_"):  # this rank's share of the rows
                dist.all_reduce(value)
                value /= WORLD
            close(value, ref_terms[name].detach(), f"{mode} {name} loss")
            got = grads(model)
            assert set(got) == set(want), f"{mode} {name}: gradients for {set(got) ^ set(want)}"
            for k, gk in got.items():
                dist.all_reduce(gk)  # DDP's mean over ranks
                close(gk / WORLD, want[k], f"{mode} {name} d/d{k}")
        # every term through the learned balancer, with a real DDP wrapper doing the averaging
        ref.zero_grad()
        ref(*full).backward()
        want = grads(ref)
        ddp = nn.parallel.DistributedDataParallel(TinyKD(spec))
        ddp(*local).backward()
        got = grads(ddp.module)
        for k in want:
            close(got[k], want[k], f"{mode} balanced total d/d{k}")


def test_gathered_losses_match_one_process_on_the_global_batch(tmp_path):
    spawn_gloo(_worker, WORLD, tmp_path)


def test_gather_spec_validation_and_single_process_identity():
    with pytest.raises(ValueError, match="gather_with_grad"):
        GatherSpec(local_loss=True, world_size=2)
    with pytest.raises(ValueError):
        GatherSpec(rank=2, world_size=2)
    spec = GatherSpec.from_process_group(gather_with_grad=True)  # no process group: one process
    x = torch.randn(3, 4)
    assert spec.world_size == 1 and spec.gather(x) is x and spec.offset(3) == 0
