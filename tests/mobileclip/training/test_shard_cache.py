"""Per-shard teacher sidecars: built per shard (split across ranks), resumable, refused for other settings,
read back one shard at a time with the embeddings the teacher gave each sample and variant."""
from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import MobileClipError, get_tokenizer
from mobileclip.data.shards import SHARD_STRIDE, TarShards
from mobileclip.training.shard_cache import ShardTeacherCache, build_shard_sidecars, read_meta, sidecar_path

SETTINGS = {"teacher": "fake", "seed": 0, "crop_scale": [0.9, 1.0]}


def _png(value):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6, 6), (value, 255 - value, 7)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def shards(tmp_path):
    for s in range(3):
        with tarfile.open(tmp_path / f"p-{s}.tar", "w") as tar:
            for i in range(4):
                for ext, data in (("png", _png(40 * s + 9 * i) if (s, i) != (1, 2) else b"corrupt"),
                                  ("txt", f"caption {s} {i}".encode())):
                    info = tarfile.TarInfo(f"k{s}{i}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return TarShards(str(tmp_path / "p-{0..2}.tar"), None, get_tokenizer())


def augment(image, variant, index):  # deterministic in (variant, index), like training's seeded crop
    x = torch.tensor(np.asarray(image.resize((2, 2))), dtype=torch.float32).flatten() / 255
    return x + 0.1 * variant + 1e-3 * (index % 7)


def encode(x, ids):
    return {"image_embeds": F.normalize(x[:, :8], dim=-1), "text_embeds": F.normalize(ids[:, :8].float(), dim=-1),
            "logit_scale": torch.tensor(50.0)}


def test_build_read_resume_and_refuse(shards, tmp_path):
    out = build_shard_sidecars(shards, encode, augment, SETTINGS, variants=3, batch_size=3)
    assert [p.name for p in out["written"]] == ["p-0.teacher.npz", "p-1.teacher.npz", "p-2.teacher.npz"]
    assert read_meta(out["written"][0])["shard"] == "p-0.tar"
    cache = ShardTeacherCache(shards.shards, SETTINGS, variants=3)
    one = cache.load(shards.shards[1])
    assert "k12" not in one and "k13" in one and one.logit_scale == 50.0  # the corrupt image has no entry
    from PIL import Image

    img = Image.open(io.BytesIO(_png(40 + 9 * 3))).convert("RGB")
    want = encode(augment(img, 2, SHARD_STRIDE + 3)[None], get_tokenizer()(["caption 1 3"]))
    got_img, got_txt = one.lookup("k13", 2)
    assert torch.allclose(got_img, want["image_embeds"][0], atol=2e-3)
    assert torch.allclose(got_txt, want["text_embeds"][0], atol=2e-3)
    assert not torch.allclose(one.lookup("k13", 0)[0], got_img)  # variants differ
    # resumable: valid sidecars are kept; a deleted one is rebuilt alone
    sidecar_path(shards.shards[2]).unlink()
    again = build_shard_sidecars(shards, encode, augment, SETTINGS, variants=3)
    assert [p.name for p in again["written"]] == ["p-2.teacher.npz"] and len(again["kept"]) == 2
    # other settings: refused by the builder (before any work) and by the reader
    with pytest.raises(MobileClipError, match="seed"):
        build_shard_sidecars(shards, encode, augment, {**SETTINGS, "seed": 1}, variants=3)
    with pytest.raises(MobileClipError, match="variants"):
        ShardTeacherCache(shards.shards, SETTINGS, variants=4)
    with pytest.raises(MobileClipError, match="no teacher sidecar"):
        ShardTeacherCache(shards.shards, SETTINGS, variants=3, out_dir=tmp_path / "elsewhere")


def test_ranks_split_the_shards(shards, tmp_path):
    written = [build_shard_sidecars(shards, encode, augment, SETTINGS, 1, out_dir=tmp_path / "c", rank=r,
                                    world_size=2)["written"] for r in range(2)]
    assert [p.name for p in written[0]] == ["p-0.teacher.npz", "p-2.teacher.npz"]
    assert [p.name for p in written[1]] == ["p-1.teacher.npz"]
    ShardTeacherCache(shards.shards, SETTINGS, variants=1, out_dir=tmp_path / "c")  # complete
