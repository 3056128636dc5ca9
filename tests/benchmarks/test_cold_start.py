"""benchmarks.cold_start: a fresh process reaches a first embedding from a JPEG through the official runtime
packages; LiteRT's path never imports torch, ExecuTorch's imports torch (its pybindings take only torch.Tensor)
but not the compiler, and every path's embedding matches the eager model's."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import image_transform

from benchmarks import cold_start as C
from benchmarks.indexing_report import REPO, cold_start
from tests.support.export_helpers import require

PRE = {"image_size": 32, "interpolation": "bicubic", "mean": [0.48145466, 0.4578275, 0.40821073],
       "std": [0.26862954, 0.26130258, 0.27577711]}


def _photo(path, size=(640, 480), rotate=False):
    """A smooth camera-like JPEG; ``rotate``: stored turned, with EXIF Orientation 6 (as the phone-photo set)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    exif = Image.Exif()
    if rotate:
        im = im.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    im.save(path, quality=90, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("size,rotate,px,interp", [((640, 480), False, 32, "bicubic"), ((480, 640), True, 32, "bicubic"),
                                                    ((301, 199), False, 64, "bilinear"), ((64, 90), False, 64, "bicubic")])
def test_preprocess_is_image_transform_without_torch(tmp_path, size, rotate, px, interp):
    """Pillow + numpy give what mobileclip.image_transform gives (odd sizes: the rounding of resize and crop; a
    short side already at the input size: no resize)."""
    path = _photo(tmp_path / "p.jpg", size, rotate)
    pre = {**PRE, "image_size": px, "interpolation": interp}
    ours = C.preprocess(C.decode(path, "draft", px), pre)
    ref = image_transform(pre)(C.decode(path, "draft", px)).numpy()[None]
    assert ours.shape == ref.shape == (1, 3, px, px) and ours.dtype == np.float32
    assert ours.flags.c_contiguous  # ExecuTorch's pybindings read the buffer in C order, whatever its strides
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_litert_path_imports_no_torch(tmp_path):
    """In a fresh interpreter: LiteRT's imports, the decode and the preprocessing leave torch unimported."""
    require("ai_edge_litert")
    path = _photo(tmp_path / "p.jpg")
    code = ("import sys, json; from benchmarks import cold_start as C; C._litert('unused.tflite', 1); "
            f"x = C.preprocess(C.decode({str(path)!r}, 'draft', 32), {PRE!r}); "
            "print(json.dumps([x.shape, [m for m in C.HEAVY_MODULES if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [[1, 3, 32, 32], []]


def test_child_refuses_a_missing_photo(tmp_path):
    out = subprocess.run([sys.executable, "-m", "benchmarks.cold_start", "--runtime", "litert", "--model",
                          str(tmp_path / "m.tflite"), "--photo", str(tmp_path / "none.jpg"), "--preprocess", "{}"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--photo: no such file" in out.stderr.splitlines()[-1]


def test_executorch_pybindings_listed_in_shim():
    from mobileclip.utils.shims import executorch_private

    assert C.ET_PYBINDINGS == executorch_private.PYBINDINGS_C and C.ET_PYBINDINGS in executorch_private.SYMBOLS


@pytest.fixture(scope="module")
def tiny_image_exports(tiny_student, tmp_path_factory):  # noqa: F811
    """The tiny student's image tower exported fp32 to ExecuTorch and LiteRT (no gate: the test compares)."""
    from export.backends import get_backend
    from export.towers import wrap_towers
    from mobileclip.models.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_student).eval()
    out, files = tmp_path_factory.mktemp("cold"), {}
    for runtime, backend, module in (("executorch", "executorch", "executorch"), ("litert", "tflite", "ai_edge_litert")):
        require(module)
        b = get_backend(backend)
        files[runtime] = out / f"image{b.suffix}"
        b.export(wrap_towers(model)["image"], torch.randn(1, 3, 32, 32), "image", "fp32",
                 b.default_recipe("image", "fp32"), None, files[runtime])
    return model, files


@pytest.mark.slow
@pytest.mark.parametrize("runtime,heavy", [("litert", []), ("executorch", ["torch"])])
def test_cold_start_child_matches_eager(tiny_image_exports, tmp_path, runtime, heavy):
    """The fresh process's embedding (Pillow + numpy preprocessing, the runtime's file) is the eager model's within
    the export gate's fp32 cosine; LiteRT's process never imports torch, ExecuTorch's only torch."""
    from export.verify import Thresholds

    model, files = tiny_image_exports
    photo = _photo(tmp_path / "p.jpg", (480, 640), rotate=True)
    r = cold_start(runtime, files[runtime], photo, model.preprocess_cfg)
    with torch.no_grad():
        ref = model.encode_image(image_transform(model.preprocess_cfg)(C.decode(photo, "draft", 32))[None])[0]
    emb = np.asarray(r["embedding"])
    assert emb @ ref.numpy() / (np.linalg.norm(emb) * ref.norm().item()) >= Thresholds().fp32_cosine
    assert r["heavy_modules"] == heavy
    parts = r["interpreter_ms"] + r["import_ms"] + r["load_and_first_ms"]
    assert 0 < parts <= r["process_start_to_embedding_ms"] <= r["spawn_to_embedding_ms"]


@pytest.mark.slow
def test_indexing_cold_start_eager(tiny_student, tmp_path):
    """benchmarks.indexing's cold-start rows and table: a fresh eager process per repeat, checked against the
    in-process embedding."""
    from benchmarks import indexing as I

    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "p.jpg")
    res = I.main(["--students", str(tiny_student), "--teacher", "", "--runtimes", "eager", "--photos", str(photos),
                  "--decoders", "draft", "--batches", "1", "--repeats", "1", "--cold-repeats", "2",
                  "--out", str(tmp_path / "out")])
    (r,) = res["cold_start"]
    assert r["repeats"] == 2 and r["cosine_to_in_process"] > 0.9999 and "torch" in r["heavy_modules"]
    assert 0 < r["load_and_first_ms"] < r["spawn_to_embedding_ms"]
    md = (tmp_path / "out" / "indexing.md").read_text()
    assert "## Cold start: process start to first embedding" in md and "spawn to embedding" in md
