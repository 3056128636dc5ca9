"""Every teacher family on tiny random-weight models built here: the --teacher grammar, open_clip (local-dir and a
registered config + weights file), SigLIP / SigLIP2 NaFlex (from_pretrained + their own tokenizer), ensembles; each
against the library's own forward on the inputs that library's tokenizer/processor would give."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import mobileclip  # noqa: F401
from mobileclip import MobileClipError, count_parameters, get_tokenizer, load_teacher, tower_parameters
from mobileclip.models.teacher import captions_from_ids
from mobileclip.models.teacher_spec import canonical_teacher_spec, parse_teacher_spec
from tests.support.teachers import OPEN_CLIP_CFG, open_clip_module, tiny_open_clip_dir, tiny_siglip_dir

CAPTIONS = ["a photo of a cat.", "Two men playing football, don't they?"]


@pytest.fixture(scope="module")
def oc_dir(tmp_path_factory):
    return tiny_open_clip_dir(tmp_path_factory.mktemp("oc") / "tiny_oc")


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    return tiny_siglip_dir(tmp_path_factory.mktemp("sig") / "tiny_siglip")


def ids():
    return get_tokenizer()(CAPTIONS)


def test_grammar_and_canonical_form(tmp_path):
    assert parse_teacher_spec("openai/clip-vit-base-patch32").family == "hf"
    assert parse_teacher_spec("vit-b-32-random").family == "random"
    s = parse_teacher_spec("open_clip:ViT-B-32/laion2b_s34b_b79k")
    assert (s.family, s.name, s.weights) == ("open_clip", "ViT-B-32", "laion2b_s34b_b79k")
    s = parse_teacher_spec("open_clip:ViT-B-32//abs/weights.bin")
    assert (s.name, s.weights) == ("ViT-B-32", "/abs/weights.bin")
    assert parse_teacher_spec("open_clip:hf-hub:org/repo").name == "hf-hub:org/repo"
    ens = parse_teacher_spec("ensemble:open_clip:ViT-B-32/random, hf:google/siglip-base-patch16-224")
    assert [m.family for m in ens.members] == ["open_clip", "hf"]
    (tmp_path / "w.bin").write_bytes(b"x")
    assert canonical_teacher_spec(f"open_clip:ViT-B-32/{tmp_path}/w.bin") == f"open_clip:ViT-B-32/{tmp_path}/w.bin"
    assert canonical_teacher_spec(str(tmp_path)) == f"hf:{tmp_path}" == canonical_teacher_spec(f"hf:{tmp_path}")
    for bad, msg in [("ensemble:a", "two or more"), ("ensemble:a,ensemble:b,c", "member of an ensemble"),
                     ("open_clip:", "needs a MODEL"), ("open_clip:ViT-B-32/", "nothing after"), ("hf:", "hf:"),
                     ("ensemble:a,,b", "empty")]:
        with pytest.raises(MobileClipError, match=msg) as e:
            load_teacher(bad)
        assert "\n" not in str(e.value)


def test_captions_come_back_as_the_clip_tokenizer_normalised_them():
    assert captions_from_ids(ids()) == ["a photo of a cat.", "two men playing football, don't they?"]


def test_open_clip_local_dir_equals_open_clip(oc_dir):
    oc = open_clip_module()
    ref, _, preprocess = oc.create_model_and_transforms(f"local-dir:{oc_dir}")
    rng = torch.get_rng_state()
    t = load_teacher(f"open_clip:local-dir:{oc_dir}")
    assert torch.equal(rng, torch.get_rng_state())  # open_clip's init before the weights load draws from seed 0
    assert t.family == "open_clip" and t.embed_dim == 24 and t.pass_ids and not t.random_weights
    assert t.spec == f"open_clip:local-dir:{oc_dir}" and t.preprocess_cfg["image_size"] == 32
    images = torch.randn(2, 3, 32, 32)
    out = t(images, ids())
    torch.testing.assert_close(out["image_embeds"], ref.encode_image(images, normalize=True))
    oc_ids = oc.get_tokenizer(f"local-dir:{oc_dir}")(CAPTIONS)  # open_clip's own tokenizer, full 77 context
    torch.testing.assert_close(out["text_embeds"], ref.encode_text(oc_ids, normalize=True))
    (m,) = out["scoring"].members
    assert (m.kind, m.dim) == ("softmax", 24) and m.scale == pytest.approx(ref.logit_scale.exp().item())
    p = tower_parameters(t)
    assert p["image"] + p["text"] == count_parameters(t) - 1  # all but the logit scale
    assert all(not q.requires_grad for q in t.parameters()) and not t.training


def test_open_clip_registered_model_with_a_local_weights_file(oc_dir):
    oc = open_clip_module()
    cfg = oc_dir.parent / "tiny-oc-test.json"
    cfg.write_text(__import__("json").dumps(OPEN_CLIP_CFG))
    oc.add_model_config(cfg)
    by_dir = load_teacher(f"open_clip:local-dir:{oc_dir}")
    by_file = load_teacher(f"open_clip:tiny-oc-test/{oc_dir}/open_clip_pytorch_model.bin")
    torch.testing.assert_close(by_file.encode_text(ids()), by_dir.encode_text(ids()))
    rnd = load_teacher("open_clip:tiny-oc-test/random")
    assert rnd.random_weights and "RANDOM" in rnd.label and rnd.encode_text(ids()).shape == (2, 24)


@pytest.mark.parametrize("spec, words", [
    ("open_clip:ViT-B-32", ["pretrained weights of ViT-B-32", "open_clip:ViT-B-32/path/to/open_clip_pytorch_model.bin",
                            "laion2b"]),
    ("open_clip:ViT-B-32/nowhere/w.bin", ["does not exist", "open_clip:ViT-B-32/path/to/open_clip_pytorch_model.bin"]),
    ("open_clip:NoSuchNet/random", ["no model 'NoSuchNet'"]),
    ("open_clip:local-dir:/no/such/dir", ["no open_clip_config.json"]),
])
def test_open_clip_errors_are_one_line_before_any_download(spec, words):
    with pytest.raises(MobileClipError) as e:
        load_teacher(spec)
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_siglip_from_pretrained_with_its_own_tokenizer(siglip_dir):
    from transformers import AutoTokenizer, SiglipModel

    ref, tok = SiglipModel.from_pretrained(siglip_dir), AutoTokenizer.from_pretrained(siglip_dir)
    t = load_teacher(f"hf:{siglip_dir}")
    assert type(t).__name__ == "SiglipTeacher" and t.embed_dim == 32 and t.context_length == 77
    assert t.preprocess_cfg == {"image_size": 48, "resize_mode": "squash", "interpolation": "bicubic",
                                "mean": [0.5] * 3, "std": [0.5] * 3}
    assert load_teacher(str(siglip_dir)).spec == t.spec == f"hf:{siglip_dir}"  # bare dirs: model_type decides
    images = torch.randn(2, 3, 48, 48)
    out = t(images, ids())
    enc = tok([c.lower() for c in CAPTIONS], padding="max_length", max_length=16, truncation=True, return_tensors="pt")
    want_text = ref.get_text_features(**enc).pooler_output
    torch.testing.assert_close(out["text_embeds"], F.normalize(want_text, dim=-1))
    want_image = ref.get_image_features(pixel_values=images).pooler_output
    torch.testing.assert_close(out["image_embeds"], F.normalize(want_image, dim=-1))
    (m,) = out["scoring"].members
    assert (m.kind, m.scale, m.bias) == ("sigmoid", pytest.approx(math.exp(2.3)), pytest.approx(-4.0))


def test_siglip2_naflex_patches_equal_the_processors(tmp_path):
    from transformers import Siglip2Model
    from transformers.models.siglip2.image_processing_siglip2 import convert_image_to_patches

    path = tiny_siglip_dir(tmp_path / "naflex", naflex=True)
    t, ref = load_teacher(str(path)), Siglip2Model.from_pretrained(path)
    assert t.naflex and t.image_size == 48 and t.preprocess_cfg["interpolation"] == "bilinear"
    images = torch.randn(2, 3, 48, 48)
    patches = torch.stack([convert_image_to_patches(x, 8) for x in images])
    want = ref.get_image_features(pixel_values=patches, pixel_attention_mask=torch.ones(2, 36, dtype=torch.int32),
                                  spatial_shapes=torch.tensor([[6, 6], [6, 6]])).pooler_output
    torch.testing.assert_close(t.encode_image(images), F.normalize(want, dim=-1))
    assert t.encode_text(ids()).shape == (2, 32)


def test_hf_errors_are_one_line(tmp_path):
    from transformers import ViTConfig

    vit = ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    vit.save_pretrained(tmp_path / "v")
    with pytest.raises(MobileClipError, match="model_type 'vit' is not a CLIP or SigLIP model"):
        load_teacher(str(tmp_path / "v"))
    path = tiny_siglip_dir(tmp_path / "notok", tokenizer=False)
    with pytest.raises(MobileClipError, match="no tokenizer beside the model") as e:
        load_teacher(str(path))
    assert "\n" not in str(e.value)


def test_ensemble_concatenates_then_normalises(oc_dir, siglip_dir, tiny_teacher_dir):
    oc, sig = load_teacher(f"open_clip:local-dir:{oc_dir}"), load_teacher(str(siglip_dir))
    ens = load_teacher(f"ensemble:open_clip:local-dir:{oc_dir},{siglip_dir}")
    assert ens.embed_dim == 24 + 32 and [m.kind for m in ens.scoring.members] == ["softmax", "sigmoid"]
    assert not ens.shared_view and ens.preprocess_cfg["image_size"] == 48  # raw [0, 1] pixels, largest member
    pixels = torch.rand(3, 3, 48, 48)
    out = ens(pixels, get_tokenizer()(CAPTIONS + ["a dog"]))
    parts = [oc.encode_image(ens.member_view(oc, pixels)), sig.encode_image((pixels - 0.5) / 0.5)]
    torch.testing.assert_close(out["image_embeds"], F.normalize(torch.cat(parts, -1), dim=-1))
    small = F.interpolate(pixels, size=(32, 32), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    mean = torch.tensor(oc.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(oc.preprocess_cfg["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(ens.member_view(oc, pixels), (small - mean) / std)
    cos = out["image_embeds"] @ out["text_embeds"].T  # the ensemble cosine is the members' mean cosine
    member_cos = [a.encode_image(ens.member_view(a, pixels)) @ a.encode_text(get_tokenizer()(CAPTIONS + ["a dog"])).T
                  for a in (oc, sig)]
    torch.testing.assert_close(cos, (member_cos[0] + member_cos[1]) / 2)
    assert tower_parameters(ens)["image"] == tower_parameters(oc)["image"] + tower_parameters(sig)["image"]
    same = load_teacher(f"ensemble:{tiny_teacher_dir},hf:{tiny_teacher_dir}")
    assert same.shared_view and same.preprocess_cfg == load_teacher(str(tiny_teacher_dir)).preprocess_cfg


def test_macs_of_torch_multi_head_attention_are_counted():
    """open_clip's transformers and SigLIP's pooling head use nn.MultiheadAttention, whose inference fast path (one
    fused kernel) the FLOP counter did not see (0 MACs; an open_clip ViT-B-32 image tower 1/3 below HF's), and HF's
    SDPA on the CPU runs a kernel torch's counter has no formula for (attention scores were left out)."""
    from mobileclip.models.model import count_macs

    m = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(1, 5, 8)
    # q, k, v and output projections 4 * L * E * E, scores and weighted sum 2 * L * L * E
    assert count_macs(lambda t: m(t, t, t, need_weights=False)[0], x) == 4 * 5 * 8 * 8 + 2 * 5 * 5 * 8
    assert torch.backends.mha.get_fastpath_enabled()  # restored
    q = torch.randn(1, 2, 5, 4)  # HF models' SDPA on the CPU: its own kernel, once also uncounted
    assert count_macs(lambda t: F.scaled_dot_product_attention(t, t, t), q) == 2 * 2 * 5 * 5 * 4


def test_siglip_evaluation_squashes_the_whole_photo():
    """SigLIP's processor resizes the photo to S x S without cropping (``resize_mode: squash``); evaluation follows a
    model's preprocess_cfg, so a wide photo keeps its edges (a centre crop would drop them)."""
    from PIL import Image

    from mobileclip.models.transform import image_transform

    img = Image.new("RGB", (64, 32), (0, 0, 0))
    img.paste(Image.new("RGB", (8, 32), (255, 255, 255)), (0, 0))  # a white band at the left edge
    cfg = {"image_size": 16, "interpolation": "bicubic", "mean": [0.0] * 3, "std": [1.0] * 3}
    squashed = image_transform({**cfg, "resize_mode": "squash"})(img)
    cropped = image_transform({**cfg, "resize_mode": "shortest"})(img)
    assert squashed.shape == cropped.shape == (3, 16, 16)
    assert squashed[:, :, 0].mean() > 0.9 and cropped[:, :, 0].mean() < 0.1


def test_a_failed_download_is_one_line_on_stderr(tmp_path):
    """A pretrained tag offline: open_clip logs the failed download at ERROR before raising; the user sees only the
    command's one line (found by hand: `--teacher open_clip:ViT-B-32/openai` printed an ERROR:root line first)."""
    import subprocess
    import sys

    from tests.support.data import REPO

    r = subprocess.run([sys.executable, "-c", "import logging, sys; logging.basicConfig(); import mobileclip\n"
                        "from mobileclip.utils.errors import cli_errors\n"
                        "with cli_errors('t'):\n    mobileclip.load_teacher('open_clip:ViT-B-32/openai')"],
                       cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "open_clip:ViT-B-32/path/to/open_clip_pytorch_model.bin" in lines[0], r.stderr
