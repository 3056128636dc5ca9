"""benchmarks.indexing: JPEG -> embedding per stage, reduced-size decoding, phone photos (cold start:
test_cold_start.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import create_model, save_checkpoint

from benchmarks import indexing as I


def _photos(folder, n=4, size=(640, 480)):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):  # smooth photos (upscaled noise), as a camera's: DCT scaling keeps them
        small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize(size, Image.BICUBIC).save(folder / f"p{i}.jpg", quality=90)
    return folder


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(create_model("tiny-lsra-light"), tmp_path_factory.mktemp("s") / "tiny.pt")


def test_draft_decodes_at_reduced_size(tmp_path):
    path = _photos(tmp_path / "p", n=1) / "p0.jpg"
    assert I.decode(path, "full", 32).size == (640, 480)
    assert I.decode(path, "draft", 24).size == (80, 60)  # libjpeg's 1/8 scale: both sides still >= 2 x 24
    assert I.decode(path, "draft", 32).size == (160, 120)  # 1/4: 1/8 would give 60 < 2 x 32
    assert I.decode(path, "draft", 112).size == (320, 240)  # 1/2: 1/4 would give 160 < 2 x 112
    assert I.decode(path, "draft", 224).size == (640, 480)  # no smaller scale keeps 2 x 224


def test_phone_photo_is_12_mp_with_orientation(tmp_path):
    from PIL import Image, ImageOps

    from benchmarks.phone_photos import PHONE_SIZE, phone_photo

    src = _photos(tmp_path / "src", n=1, size=(200, 300)) / "p0.jpg"
    upright = phone_photo(src, tmp_path / "a.jpg", rotate=False)
    turned = phone_photo(src, tmp_path / "b.jpg", rotate=True)
    with Image.open(upright) as a, Image.open(turned) as b:
        assert a.size == PHONE_SIZE and b.size == PHONE_SIZE[::-1] and b.getexif()[0x0112] == 6
        assert ImageOps.exif_transpose(b).size == PHONE_SIZE  # the preprocessing turns it back


def test_indexing_tiny(student, tmp_path):
    photos = _photos(tmp_path / "photos")
    res = I.main(["--students", str(student), "--teacher", "", "--runtimes", "eager", "--photos", str(photos),
                  "--threads", "1", "--batches", "1,4", "--repeats", "1", "--cold-repeats", "0",
                  "--out", str(tmp_path / "out")])
    rows = res["results"]
    assert {(r["decoder"], r["batch"]) for r in rows} == {(d, b) for d in ("draft", "full") for b in (1, 4)}
    for r in rows:
        assert r["n_photos"] == 4 and r["image_size"] == 32 and min(r["decode_ms"], r["encode_ms"]) > 0
        assert r["photos_per_s"] == pytest.approx(1e3 / (r["decode_ms"] + r["preprocess_ms"] + r["encode_ms"]))
    drafts = [r for r in rows if r["decoder"] == "draft"]
    assert all(r["draft_vs_full_cosine_min"] >= 0.99 for r in drafts)
    md = (tmp_path / "out" / "indexing.md").read_text()
    assert "python -m benchmarks.indexing --students" in md and "ISA" in md and "draft decode" in md
    saved = json.loads((tmp_path / "out" / "indexing.json").read_text())
    assert saved["photo_sets"]["photos"]["size"] == "640x480"


def test_indexing_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        I.main(["--students", "tiny-lsra-light", "--teacher", "", "--photos", str(tmp_path / "empty")])
    assert e.value.code == 2 and "no JPEG files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        I.main(["--decoders", "gpu", "--teacher", ""])
    assert "--decoders" in capsys.readouterr().err

