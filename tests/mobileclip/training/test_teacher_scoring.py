"""Response distillation follows the teacher's scoring: SigLIP's per-pair sigmoid with scale and bias, an ensemble's
members each in their own scoring (softmax members averaged after the softmax, as MobileCLIP does). Values are
checked against sums written out by hand with ``math`` on 2x2 batches."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mobileclip.models.teacher import Member, Scoring
from mobileclip.training.losses import ResponseDistillLoss

S_IMG = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
S_TXT = torch.tensor([[0.6, 0.8], [0.8, 0.6]])  # student cosines: [[0.6, 0.8], [0.8, 0.6]]
EYE = torch.eye(2)


def sig(z):
    return 1 / (1 + math.exp(-z))


def bernoulli_kl(p, q):
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def sigmoid_by_hand(t_cos, s_cos, scale, bias, T=1.0):
    """sum over a row's pairs of the Bernoulli KL, mean over rows, times T^2."""
    rows = [sum(bernoulli_kl(sig((scale * t_cos[i][j] + bias) / T), sig((scale * s_cos[i][j] + bias) / T))
                for j in range(2)) for i in range(2)]
    return sum(rows) / 2 * T * T


@pytest.mark.parametrize("T", [1.0, 2.0])
def test_sigmoid_teacher_matches_the_hand_computed_binary_kl(T):
    scoring = Scoring((Member("siglip", 2, "sigmoid", 10.0, -5.0),))
    out = ResponseDistillLoss(T)(S_IMG, S_TXT, torch.tensor(3.0), EYE, EYE, torch.tensor(10.0), scoring)
    s_cos = [[0.6, 0.8], [0.8, 0.6]]
    want = sigmoid_by_hand([[1, 0], [0, 1]], s_cos, 10.0, -5.0, T)
    # spelled out for T = 1: teacher logits 5 / -5, student logits 1, 3 / 3, 1 (the student's cosines get the
    # teacher's scale and bias)
    if T == 1.0:
        by_hand = (bernoulli_kl(sig(5), sig(1)) + bernoulli_kl(sig(-5), sig(3))) * 2 / 2
        assert want == pytest.approx(by_hand)
    assert out["rd_i2t"].item() == pytest.approx(want, rel=1e-5)
    assert out["rd_t2i"].item() == pytest.approx(want, rel=1e-5)  # symmetric cosines: the same pairs
    perfect = ResponseDistillLoss(T)(EYE, EYE, torch.tensor(3.0), EYE, EYE, torch.tensor(10.0), scoring)
    assert perfect["rd_i2t"].item() == pytest.approx(0.0, abs=1e-6)  # the same probabilities: nothing to learn


def test_mixed_ensemble_averages_members_in_their_own_scoring():
    # member A (softmax, scale 5) sees cosines [[0.6, 0], [0.8, 1]]; member B (sigmoid, 10, -5) sees the identity
    a_img, a_txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    t_img = F.normalize(torch.cat([a_img, EYE], -1), dim=-1)  # the ensemble embedding: blocks / sqrt(2)
    t_txt = F.normalize(torch.cat([a_txt, EYE], -1), dim=-1)
    scoring = Scoring((Member("a", 2, "softmax", 5.0), Member("b", 2, "sigmoid", 10.0, -5.0)))
    out = ResponseDistillLoss(1.0)(S_IMG, S_TXT, torch.tensor(3.0), t_img, t_txt, torch.tensor(7.5), scoring)
    a_cos, s_cos = [[0.6, 0.0], [0.8, 1.0]], [[0.6, 0.8], [0.8, 0.6]]
    soft = sum(kl(softmax([5 * v for v in a_cos[i]]), softmax([3 * v for v in s_cos[i]])) for i in range(2)) / 2
    want = (soft + sigmoid_by_hand([[1, 0], [0, 1]], s_cos, 10.0, -5.0)) / 2
    assert out["rd_i2t"].item() == pytest.approx(want, rel=1e-5)
    a_cos_t = [[a_cos[j][i] for j in range(2)] for i in range(2)]  # text -> image: the transposed cosines
    soft_t = sum(kl(softmax([5 * v for v in a_cos_t[i]]), softmax([3 * v for v in s_cos[i]])) for i in range(2)) / 2
    assert out["rd_t2i"].item() == pytest.approx((soft_t + sigmoid_by_hand([[1, 0], [0, 1]], s_cos, 10.0, -5.0)) / 2,
                                                  rel=1e-5)


def test_softmax_members_are_averaged_after_the_softmax():
    """Two CLIP teachers: KL to the mean of their probabilities (MobileCLIP's --distill-average-after-softmax)."""
    a_txt, b_txt = torch.tensor([[0.6, 0.8], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    t_img = F.normalize(torch.cat([EYE, EYE], -1), dim=-1)
    t_txt = F.normalize(torch.cat([a_txt, b_txt], -1), dim=-1)
    scoring = Scoring((Member("a", 2, "softmax", 5.0), Member("b", 2, "softmax", 20.0)))
    out = ResponseDistillLoss(1.0)(S_IMG, S_TXT, torch.tensor(3.0), t_img, t_txt, torch.tensor(12.5), scoring)
    a_cos, b_cos, s_cos = [[0.6, 0.0], [0.8, 1.0]], [[1.0, 0.8], [0.0, 0.6]], [[0.6, 0.8], [0.8, 0.6]]
    rows = []
    for i in range(2):
        p = [(x + y) / 2 for x, y in zip(softmax([5 * v for v in a_cos[i]]), softmax([20 * v for v in b_cos[i]]))]
        rows.append(kl(p, softmax([3 * v for v in s_cos[i]])))
    assert out["rd_i2t"].item() == pytest.approx(sum(rows) / 2, rel=1e-5)


def test_one_softmax_teacher_is_scored_as_before():
    g = torch.Generator().manual_seed(0)
    x = [F.normalize(torch.randn(4, 8, generator=g), dim=-1) for _ in range(4)]
    rd = ResponseDistillLoss(2.0)
    before = rd(x[0], x[1], torch.tensor(14.0), x[2], x[3], torch.tensor(100.0))
    now = rd(x[0], x[1], torch.tensor(14.0), x[2], x[3], torch.tensor(100.0),
             Scoring((Member("clip", 8, "softmax", 100.0),)))
    assert now["rd_i2t"].item() == before["rd_i2t"].item() and now["rd_t2i"].item() == before["rd_t2i"].item()


def test_kd_module_passes_the_teachers_scoring_to_the_loss():
    from mobileclip import create_model
    from mobileclip.training.kd import KDModule

    torch.manual_seed(0)
    module = KDModule(create_model("tiny-lsra-light"), 16, "cosine", 1.0, "fixed", False)
    images, ids = torch.randn(4, 3, 32, 32), torch.randint(1, 100, (4, 6))
    ids[:, -1] = 49407
    t = {"image_embeds": F.normalize(torch.randn(4, 16), dim=-1), "logit_scale": torch.tensor(100.0),
         "text_embeds": F.normalize(torch.randn(4, 16), dim=-1),
         "scoring": Scoring((Member("siglip", 16, "sigmoid", 10.0, -5.0),))}
    _, terms, _ = module(images, ids, ["rd_i2t", "rd_t2i"], t)
    f = module.features(images, ids, t)
    want = module.rd(f["s_img"], f["s_txt"], f["scale"], f["t_img"], f["t_txt"], f["t_scale"], t["scoring"])
    assert terms["rd_i2t"].item() == pytest.approx(want["rd_i2t"].item())
    plain = module.rd(f["s_img"], f["s_txt"], f["scale"], f["t_img"], f["t_txt"], f["t_scale"])
    assert terms["rd_i2t"].item() != pytest.approx(plain["rd_i2t"].item())  # not the softmax it used to be


WORLD, N_LOCAL = 2, 3
MODES = {"default": dict(), "gather_with_grad": dict(gather_with_grad=True),
         "local_loss": dict(local_loss=True, gather_with_grad=True)}


def _scored_rd(spec, rows: slice):
    """Response distillation from a mixed (softmax + sigmoid) ensemble on a linear toy student: (loss, grads)."""
    g = torch.Generator().manual_seed(3)
    n = WORLD * N_LOCAL
    x_img, x_txt = torch.randn(n, 5, generator=g), torch.randn(n, 7, generator=g)
    t_img = F.normalize(torch.cat([F.normalize(torch.randn(n, d, generator=g), dim=-1) for d in (2, 4)], -1), dim=-1)
    t_txt = F.normalize(torch.cat([F.normalize(torch.randn(n, d, generator=g), dim=-1) for d in (2, 4)], -1), dim=-1)
    w_img, w_txt = torch.randn(5, 8, generator=g).requires_grad_(), torch.randn(7, 8, generator=g).requires_grad_()
    scoring = Scoring((Member("a", 2, "softmax", 5.0), Member("b", 4, "sigmoid", 10.0, -5.0)))
    s_img, s_txt = F.normalize(x_img[rows] @ w_img, dim=-1), F.normalize(x_txt[rows] @ w_txt, dim=-1)
    out = ResponseDistillLoss(2.0, spec)(s_img, s_txt, torch.tensor(3.0), t_img[rows], t_txt[rows], torch.tensor(7.5),
                                         scoring)
    total = out["rd_i2t"] + out["rd_t2i"]
    total.backward()
    return total.detach(), w_img.grad, w_txt.grad


def _rd_worker(rank):
    import torch.distributed as dist

    from mobileclip.training.distributed import GatherSpec

    want = _scored_rd(GatherSpec(), slice(None))
    for mode, opts in MODES.items():
        spec = GatherSpec.from_process_group(**opts)
        value, *grads = _scored_rd(spec, slice(rank * N_LOCAL, (rank + 1) * N_LOCAL))
        if spec.local_loss:  # this rank's share of the rows
            dist.all_reduce(value)
            value /= WORLD
        assert torch.allclose(value, want[0], rtol=1e-4, atol=1e-6), (mode, value, want[0])
        for got, ref in zip(grads, want[1:]):
            dist.all_reduce(got)  # DDP's mean over ranks
            assert torch.allclose(got / WORLD, ref, rtol=1e-4, atol=1e-6), (mode, got / WORLD, ref)


def test_scored_distillation_gathers_like_one_process(tmp_path):
    """2 gloo processes: the sigmoid and averaged-softmax terms over globally gathered pairs equal one process on
    the whole batch, value and gradient, with every gather mode."""
    from tests.support.dist_helpers import spawn_gloo

    spawn_gloo(_rd_worker, WORLD, tmp_path)
