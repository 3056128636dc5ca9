"""Feature-cached accumulation over N micro-batches == one step on the N-times larger batch (loss and every
parameter's gradient), with every KD term, projecting KD heads, the learned logit scale and the learned
loss balancer; plus the precision helper."""
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tests.support.dist_helpers import spawn_gloo

from mobileclip.training.accumulate import Splice, accumulate_step
from mobileclip.training.distributed import GatherSpec
from mobileclip.training.precision import precision_for
from tests.support.toy_kd import TERMS, ToyKD as TinyKD

def batch(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 5, generator=g), torch.randn(n, 7, generator=g),
            F.normalize(torch.randn(n, 8, generator=g), dim=-1), F.normalize(torch.randn(n, 8, generator=g), dim=-1))


def micro(full, n):
    return [tuple(x.chunk(n)[j] for x in full) for j in range(n)]


@pytest.mark.parametrize("n", [2, 4])
def test_accumulation_equals_the_larger_batch(n):
    full = batch()
    ref = TinyKD()
    total, terms = ref(full)
    total.backward()
    model = TinyKD()
    out = accumulate_step(micro(full, n), model.features, model.forward, lambda t: t.backward(), model=model)
    assert torch.allclose(out[0], total, rtol=1e-5), (out[0], total)
    for k in TERMS:
        assert torch.allclose(out[1][k], terms[k], rtol=1e-5, atol=1e-7), k
    want = dict(ref.named_parameters())
    for k, p in model.named_parameters():
        assert p.grad is not None, k
        assert torch.allclose(p.grad, want[k].grad, rtol=1e-4, atol=1e-6), f"d/d{k}: {p.grad} != {want[k].grad}"
    # without detaching the balancer in N-1 passes its gradient would be N times too large: the test can fail
    bad = TinyKD()
    accumulate_step(micro(full, n), bad.features, lambda mb, sp: bad(mb, Splice(sp.cached, len(sp.cached) - 1)),
                    lambda t: t.backward())
    assert not torch.allclose(bad.balancer.log_vars.grad, ref.balancer.log_vars.grad, rtol=1e-3)


def _ddp_worker(rank, opts):
    full = batch()
    ref = TinyKD()
    total, _ = ref(full)
    total.backward()
    model = TinyKD(gather=GatherSpec.from_process_group(**opts))
    ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    local = tuple(x[rank * 4:(rank + 1) * 4] for x in full)
    out = accumulate_step(micro(local, 2), model.features, ddp, lambda t: t.backward(), model=model,
                          no_sync=ddp.no_sync)
    value = out[0].detach().clone()
    dist.all_reduce(value)  # fd terms (and all rows with local_loss) are this rank's share
    value /= 2
    assert torch.allclose(value, total, rtol=1e-5), (value, total)
    want = dict(ref.named_parameters())
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, want[k].grad, rtol=1e-4, atol=1e-6), f"d/d{k}: {p.grad} != {want[k].grad}"


@pytest.mark.parametrize("opts", [{}, {"local_loss": True, "gather_with_grad": True}], ids=["default", "local_loss"])
def test_accumulation_with_ddp_and_global_negatives(tmp_path, opts):
    """2 gloo ranks x 2 micro-batches of 2 (DDP no_sync until the last pass) == one process on all 8 samples."""
    spawn_gloo(_ddp_worker, 2, tmp_path, opts)


def test_cache_pass_replays_dropout_and_leaves_batchnorm_stats_alone():
    full = batch()
    model = TinyKD(dropout=0.5, batchnorm=True)
    cached = []

    def encode(mb):
        cached.append(model.features(mb))
        return cached[-1]

    accumulate_step(micro(full, 2), encode, model.forward, lambda t: t.backward(), model=model)
    assert [j for j, _ in model.seen_live] == [0, 1]
    for j, live in model.seen_live:  # recomputed features equal the cached ones bit for bit (same dropout mask)
        assert torch.equal(live["s_img"], cached[j]["s_img"])
    plain = TinyKD(dropout=0.5, batchnorm=True)
    for mb in micro(full, 2):  # BN running stats: one update per micro-batch, as without the cache pass
        plain.features(mb)
    bn, bn_plain = model.image[1], plain.image[1]
    assert int(bn.num_batches_tracked) == 2
    assert torch.allclose(bn.running_mean, bn_plain.running_mean) and torch.allclose(bn.running_var, bn_plain.running_var)
    with torch.no_grad():  # (without the replay two passes draw different masks)
        assert not torch.equal(model.features(micro(full, 2)[0])["s_img"], model.features(micro(full, 2)[0])["s_img"])


def test_splice_checks_keys_and_detaches_scalars():
    cached = [{"a": torch.zeros(2, 3), "s": torch.tensor(1.0)} for _ in range(3)]
    live = {"a": torch.ones(2, 3, requires_grad=True), "s": torch.tensor(1.0, requires_grad=True)}
    out = Splice(cached, 1).splice(live)
    assert out["a"].shape == (6, 3) and out["a"][2:4].requires_grad and out["a"][2:4].sum().item() == 6
    assert not out["s"].requires_grad and Splice(cached, 2).splice(live)["s"].requires_grad
    with pytest.raises(KeyError):
        Splice(cached, 0).splice({"a": live["a"]})


def test_precision_helper():
    fp32 = precision_for("fp32", "cpu")
    assert fp32.dtype is None and not fp32.grad_scaler().is_enabled()
    bf16 = precision_for("amp_bf16", "cpu")
    assert bf16.dtype is torch.bfloat16 and not bf16.scaler and not bf16.grad_scaler().is_enabled()
    with bf16.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype is torch.bfloat16
    with pytest.raises(ValueError, match="CUDA"):
        precision_for("amp", "cpu")
    with pytest.raises(ValueError, match="one of"):
        precision_for("fp16", "cpu")
