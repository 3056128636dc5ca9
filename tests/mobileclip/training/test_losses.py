"""Every loss: known inputs -> known values, zero when student == teacher (where that holds)."""
import math

import pytest
import torch
import torch.nn.functional as F

from mobileclip.training.losses import (AffinityMimicLoss, ClipLoss, FeatureDistillLoss, InteractiveContrastiveLoss,
                                        KDHeads, ResponseDistillLoss, UncertaintyBalancer)


def unit(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1)


@pytest.mark.parametrize("n,scale", [(2, 1.0), (4, 10.0)])
def test_clip_loss_known_value(n, scale):
    e = torch.eye(n)  # orthonormal: logits = scale * I
    expected = math.log(1 + (n - 1) * math.exp(-scale))
    out = ClipLoss()(e, e, torch.tensor(scale))
    assert set(out) == {"contrastive"}
    assert out["contrastive"].item() == pytest.approx(expected, rel=1e-3, abs=1e-6)


def test_clip_loss_asymmetric_and_uniform():
    # all-identical embeddings: uniform logits -> CE = log(n) in both directions
    x = unit(1, 8).repeat(5, 1)
    assert ClipLoss()(x, x, torch.tensor(100.0))["contrastive"].item() == pytest.approx(math.log(5), rel=1e-5)


def test_feature_distill_values():
    s, t = unit(6, 16, 1), unit(6, 16, 2)
    cos = F.cosine_similarity(s, t).mean().item()
    out = FeatureDistillLoss("cosine")(s, s, t, t)
    assert out["fd_image"].item() == pytest.approx(1 - cos, rel=1e-5)
    mse = FeatureDistillLoss("mse")(s, s, t, t)
    assert mse["fd_image"].item() == pytest.approx(2 - 2 * cos, rel=1e-5)  # summed over dims, not ~1/D
    e = torch.eye(4)
    assert FeatureDistillLoss("mse")(e, e, e.roll(1, 0), e)["fd_image"].item() == pytest.approx(2.0)
    same = FeatureDistillLoss("cosine")(s, t, s, t)
    assert same["fd_image"].item() == pytest.approx(0, abs=1e-6) and same["fd_text"].item() == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError):
        FeatureDistillLoss("l1")


def test_interactive_contrastive_known_and_cross_modal():
    n, scale = 3, 5.0
    e = torch.eye(n)
    out = InteractiveContrastiveLoss()(e, e, e, e, torch.tensor(scale))
    expected = math.log(1 + (n - 1) * math.exp(-scale))
    assert out["icl_image"].item() == pytest.approx(expected, rel=1e-5)
    # student image matches the teacher *text*: permuting teacher texts breaks icl_image only
    perm = e[[1, 2, 0]]
    out2 = InteractiveContrastiveLoss()(e, e, e, perm, torch.tensor(scale))
    assert out2["icl_image"].item() > 4 and out2["icl_text"].item() == pytest.approx(expected, rel=1e-5)


def test_response_distill_zero_when_equal_and_known_value():
    img, txt = unit(5, 8, 3), unit(5, 8, 4)
    rd = ResponseDistillLoss(temperature=2.0)
    out = rd(img, txt, torch.tensor(10.0), img, txt, torch.tensor(10.0))
    assert out["rd_i2t"].item() == pytest.approx(0, abs=1e-6) and out["rd_t2i"].item() == pytest.approx(0, abs=1e-6)
    # 2x2 by hand: student uniform logits, teacher logits [[a,0],[0,a]]
    a, T = 2.0, 1.0
    s = torch.zeros(2, 2)
    e = torch.eye(2)
    out = ResponseDistillLoss(T)(e, torch.zeros(2, 2) + 1e-9, torch.tensor(1.0), e, e, torch.tensor(a))
    p = math.exp(a) / (math.exp(a) + 1)
    expected = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert out["rd_i2t"].item() == pytest.approx(expected, rel=1e-4)
    assert out["rd_t2i"].item() == pytest.approx(expected, rel=1e-4)
    del s


def test_response_distill_temperature_scaling():
    img, txt, img2, txt2 = unit(4, 8, 5), unit(4, 8, 6), unit(4, 8, 7), unit(4, 8, 8)
    lo = ResponseDistillLoss(1.0)(img, txt, torch.tensor(5.0), img2, txt2, torch.tensor(5.0))["rd_i2t"]
    hi = ResponseDistillLoss(4.0)(img, txt, torch.tensor(5.0), img2, txt2, torch.tensor(5.0))["rd_i2t"]
    assert lo.item() > 0 and hi.item() > 0 and not math.isclose(lo.item(), hi.item())
    with pytest.raises(ValueError):
        ResponseDistillLoss(0)


def test_affinity_mimic():
    img, txt = unit(4, 8, 9), unit(4, 8, 10)
    am = AffinityMimicLoss()
    same = am(img, txt, torch.tensor(10.0), img, txt, torch.tensor(10.0))
    assert same["am_image"].item() == pytest.approx(0, abs=1e-6)
    diff = am(img, txt, torch.tensor(10.0), unit(4, 8, 11), txt, torch.tensor(10.0))
    assert diff["am_image"].item() > 1e-3 and diff["am_text"].item() == pytest.approx(0, abs=1e-6)


def test_kd_heads_identity_and_projection():
    h = KDHeads(16, 16)
    x = unit(3, 16)
    assert torch.equal(h.map_image(x), x) and h.checkpoint_state() is None
    h = KDHeads(8, 16)
    y = h.map_text(unit(3, 8))
    assert y.shape == (3, 16) and torch.allclose(y.norm(dim=-1), torch.ones(3))
    st = h.checkpoint_state()
    assert st["image"]["weight"].shape == (16, 8) and h.image.bias is None
    # orthogonal init preserves cosine similarities at step 0
    a = unit(5, 8, 12)
    m = h.map_image(a)
    assert torch.allclose(m @ m.T, a @ a.T, atol=1e-5)


def test_balancer_sum_and_learns():
    terms = {"a": torch.tensor(3.0, requires_grad=True), "b": torch.tensor(0.1, requires_grad=True)}
    bal = UncertaintyBalancer(["a", "b", "c"])
    total, weighted = bal(terms)
    assert total.item() == pytest.approx(3.1)  # s=0: weight 1, + s = 0
    opt = torch.optim.SGD(bal.parameters(), lr=0.1)
    before = bal.weights()
    for _ in range(50):
        opt.zero_grad()
        bal({"a": torch.tensor(3.0), "b": torch.tensor(0.1)})[0].backward()
        opt.step()
    w = bal.weights()
    assert w["a"] < before["a"] and w["b"] > before["b"]  # weight ~ 1/L: big term down, small term up
    assert w["c"] == before["c"]  # inactive term untouched
    with pytest.raises(KeyError):
        bal({"zzz": torch.tensor(1.0)})
    fixed = UncertaintyBalancer(["a"], mode="fixed")
    assert fixed({"a": torch.tensor(2.0)})[0].item() == 2.0 and not fixed.log_vars.requires_grad
