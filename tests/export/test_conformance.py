"""The model boundary: the exact input buffers the Android app's code writes, run in the exported files.

The tiny student is exported with ExecuTorch and LiteRT (fp32 and int8, both towers). The Java core
(``Conformance``: ImageIO decode -> ExifOrientation -> ImagePreprocessor -> ModelInput; ClipTokenizer ->
ModelInput) writes the buffers it would hand the runtimes for the golden EXIF-rotated photo and a few captions.
Here those bytes must equal Python's inputs, carry the manifest's input names and the models' real shapes and
dtypes, and give the same embeddings and ranking in ExecuTorch / LiteRT as PyTorch on Python's inputs.
A wrong layout, dtype, name or orientation on the app side fails here.
"""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from tests.support.export_helpers import require, run_export
from tests.apps.test_android_core import GOLDEN, core_classes, junit_classpath  # noqa: F401  (fixtures)
from tests.export.test_runtime_pins import catalog_version

PHOTO = GOLDEN / "images" / "exif_orientation_6.jpg"
CAPTIONS = ["a photo of a cat.", "A GREY CHECKERBOARD", "café crème, 🐶 &amp; friends", "stripes"]
FP32_COSINE = 0.9999


@pytest.fixture(scope="module")
def exported(tiny_student, tmp_path_factory):
    from export.verify import Thresholds

    require("executorch")
    require("litert_torch")
    out = tmp_path_factory.mktemp("conformance")
    manifest = None
    # int8 quality is gated by the export tests; the untrained tiny image tower is far below the int8 gate
    # (cosine ~0.8), which does not matter for checking the app's buffers, so no int8 gate here
    loose = Thresholds(int8_cosine=0.0)
    for backend in ("executorch", "tflite"):
        for quantize in ("none", "int8"):
            manifest = run_export(backend, tiny_student, out, quantize, towers=("image", "text"), thresholds=loose,
                                  per_class=1, n_calib=4)
    return out, manifest


@pytest.fixture(scope="module")
def java_inputs(exported, core_classes, junit_classpath, tmp_path_factory):
    out, _ = exported
    folder = tmp_path_factory.mktemp("java-inputs")
    captions = folder / "captions.txt"
    captions.write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    r = subprocess.run(["java", "-Dfile.encoding=UTF-8", "-cp", f"{core_classes}{os.pathsep}{junit_classpath}",
                        "com.mobileclipkd.core.Conformance", str(out / "manifest.json"), str(PHOTO), str(captions),
                        str(folder / "buffers")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads((folder / "buffers" / "inputs.json").read_text())
    for row in rows:
        dtype = {"float32": np.float32, "int32": np.int32}[row["dtype"]]
        row["array"] = np.fromfile(folder / "buffers" / row["file"], dtype=np.dtype(dtype).newbyteorder("<"))
    return rows


@pytest.fixture(scope="module")
def reference(exported, tiny_student):
    """Python's inputs (mobileclip's own preprocessing and tokenizer) and PyTorch's fp32 embeddings."""
    from PIL import Image

    from export.towers import wrap_towers
    from mobileclip import get_tokenizer, image_transform, load_checkpoint

    _, manifest = exported
    model = load_checkpoint(tiny_student).eval()
    with Image.open(PHOTO) as im:
        pixels = image_transform(manifest["preprocess"])(im).unsqueeze(0)
    ids = get_tokenizer(manifest["tokenizer"]["context_length"])(CAPTIONS).to(torch.int32)
    towers = wrap_towers(model)
    with torch.no_grad():
        image = towers["image"](pixels).numpy()
        text = torch.cat([towers["text"](ids[i:i + 1]) for i in range(len(CAPTIONS))]).numpy()
    return {"pixels": pixels.numpy(), "ids": ids.numpy(), "image": image, "text": text}


def _run(backend: str, path, array: np.ndarray) -> np.ndarray:
    if backend == "executorch":
        from export.executorch import load_pte

        return load_pte(path).execute([torch.from_numpy(array.copy())])[0].numpy()
    from export.tflite import TFLiteRunner

    runner = TFLiteRunner(path)
    assert list(array.shape) == runner.input_shape and array.dtype == runner.input_dtype, (
        f"{path.name} takes {runner.input_dtype} {runner.input_shape}, the app sends {array.dtype} {list(array.shape)}")
    return runner(array)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_java_buffers_equal_python_inputs(java_inputs, reference, exported):
    _, manifest = exported
    entries = {(m["backend"], m["tower"], m["quantization"]): m for m in manifest["models"]}
    assert len(java_inputs) == 4 * (1 + len(CAPTIONS))
    for row in java_inputs:
        entry = entries[(row["backend"], row["tower"], row["quantization"])]
        assert row["name"] == entry["inputs"][0]["name"] and row["shape"] == entry["inputs"][0]["shape"]
        if row["tower"] == "image":
            assert row["dtype"] == "float32"
            np.testing.assert_allclose(row["array"], reference["pixels"].ravel(), atol=1e-5, rtol=0)
        else:
            assert row["dtype"] == "int32"
            np.testing.assert_array_equal(row["array"], reference["ids"][row["caption"]])


@pytest.mark.parametrize("backend", ["executorch", "tflite"])
@pytest.mark.parametrize("quantization", ["fp32", "int8"])
def test_runtimes_on_java_buffers_match_pytorch(java_inputs, reference, exported, backend, quantization):
    out, manifest = exported
    rows = [r for r in java_inputs if (r["backend"], r["quantization"]) == (backend, quantization)]
    files = {r["tower"]: out / r["model"] for r in rows}
    (img_row,) = [r for r in rows if r["tower"] == "image"]
    image = _run(backend, files["image"], img_row["array"].reshape(img_row["shape"]))
    text_rows = sorted((r for r in rows if r["tower"] == "text"), key=lambda r: r["caption"])
    text = np.concatenate([_run(backend, files["text"], r["array"].reshape(r["shape"])) for r in text_rows])
    if quantization == "fp32":  # the exported program computes what PyTorch computes, on the app's bytes
        assert _cos(image, reference["image"]).min() >= FP32_COSINE
        assert _cos(text, reference["text"]).min() >= FP32_COSINE
        want_image, want_text = reference["image"], reference["text"]
    else:  # int8 differs from PyTorch by design: the app's bytes must give what Python's inputs give
        want_image = _run(backend, files["image"], reference["pixels"])
        want_text = np.concatenate([_run(backend, files["text"], reference["ids"][i:i + 1])
                                    for i in range(len(CAPTIONS))])
        np.testing.assert_allclose(image, want_image, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(text, want_text, rtol=1e-5, atol=1e-5)
        assert _cos(image, reference["image"]).min() > 0.5 and _cos(text, reference["text"]).min() > 0.9
    got = _cos(np.repeat(image, len(text), 0), text)
    want = _cos(np.repeat(want_image, len(text), 0), want_text)
    assert list(np.argsort(-got)) == list(np.argsort(-want)), (got, want)
    # negative control: the same pixels in NHWC order (a plausible app-side layout bug) are caught
    if quantization == "fp32":
        n, c, h, w = img_row["shape"]
        nhwc = img_row["array"].reshape(n, c, h, w).transpose(0, 2, 3, 1).reshape(n, c, h, w).copy()
        assert _cos(_run(backend, files["image"], nhwc), reference["image"]).min() < FP32_COSINE


def test_app_pins_cover_every_exported_file(exported):
    """The manifest records each file's toolchain and oldest runtime; the Android catalog satisfies it."""
    from export.toolchain import version_tuple

    _, manifest = exported
    for m in manifest["models"]:
        assert m["toolchain"] and "not installed" not in m["toolchain"].values(), m["toolchain"]
        need = m["min_runtime"]
        pinned = catalog_version(need["android_artifact"])
        assert version_tuple(pinned) >= version_tuple(need["version"]), (m["file"], need, pinned)
        if m["backend"] == "tflite" and m["quantization"] == "int8":
            assert need["offset_buffers"] >= 0 and "ai-edge-litert" in need["reason"]
