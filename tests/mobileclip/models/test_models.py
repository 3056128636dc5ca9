"""timm-style checks over every registered config, on tiny inputs."""
import pytest
import torch

from mobileclip import create_model, get_model_config, list_models

MODELS = list_models()


def _inputs(cfg, batch=2, length=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    size = min(cfg["vision_cfg"]["image_size"], 64)
    images = torch.randn(batch, 3, size, size, generator=g)
    ids = torch.randint(1, 49405, (batch, length), generator=g)
    ids[:, 0] = 49406
    ids[0, length - 1] = 49407
    ids[1, length // 2] = 49407
    ids[1, length // 2 + 1 :] = 0
    return images, ids


@pytest.fixture(scope="module", params=MODELS)
def model_and_cfg(request):
    torch.manual_seed(0)
    return create_model(request.param), get_model_config(request.param)


def test_forward_shapes_norm_finite(model_and_cfg):
    model, cfg = model_and_cfg
    model.eval()
    images, ids = _inputs(cfg)
    with torch.no_grad():
        out = model(images, ids)
    for key in ("image_embeds", "text_embeds"):
        emb = out[key]
        assert emb.shape == (2, cfg["embed_dim"])
        assert torch.isfinite(emb).all()
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
    assert out["logit_scale"].item() == pytest.approx(1 / 0.07, rel=1e-4)


def test_gradients_reach_every_parameter(model_and_cfg):
    model, cfg = model_and_cfg
    model.train()
    model.zero_grad()
    images, _ = _inputs(cfg)
    length = cfg["text_cfg"]["context_length"]
    ids = torch.randint(1, 49405, (2, length), generator=torch.Generator().manual_seed(1))
    ids[:, 0], ids[:, -1] = 49406, 49407  # full context: every position embedding is used
    out = model(images, ids)
    logits = out["logit_scale"] * out["image_embeds"] @ out["text_embeds"].T
    target = torch.arange(2)
    loss = torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
            or p.grad.abs().sum() == 0]
    assert not dead, f"no gradient reaches: {dead}"


def test_padding_never_changes_text_embedding(model_and_cfg):
    model, cfg = model_and_cfg
    model.eval()
    ctx = cfg["text_cfg"]["context_length"]
    ids = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 269, 49407]])
    with torch.no_grad():
        short = model.encode_text(ids)
        for pad_id in (0, 49407, 1234):  # open_clip pads 0, HF pads EOT; any id after EOT is padding
            padded = torch.full((1, ctx), pad_id)
            padded[0, : ids.shape[1]] = ids[0]
            torch.testing.assert_close(model.encode_text(padded), short, atol=1e-6, rtol=0)


def test_text_longer_than_context_is_an_error(model_and_cfg):
    model, cfg = model_and_cfg
    ctx = cfg["text_cfg"]["context_length"]
    with pytest.raises(ValueError, match="context"):
        model.encode_text(torch.zeros(1, ctx + 1, dtype=torch.long))


def test_torch_export_both_towers_fixed_shapes(model_and_cfg):
    model, cfg = model_and_cfg
    model.eval()
    size = cfg["vision_cfg"]["image_size"]
    ctx = cfg["text_cfg"]["context_length"]
    image = torch.randn(1, 3, size, size)
    ids = torch.zeros(1, ctx, dtype=torch.int32)
    ids[0, :4] = torch.tensor([49406, 320, 2368, 49407], dtype=torch.int32)
    ep_img = torch.export.export(model.visual, (image,))
    ep_txt = torch.export.export(model.text, (ids,))
    with torch.no_grad():
        torch.testing.assert_close(ep_img.module()(image), model.visual(image))
        torch.testing.assert_close(ep_txt.module()(ids), model.text(ids.long()))
