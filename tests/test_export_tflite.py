"""tflite export on the tiny config (fast: text tower fp32 + int8) and on full-size/image towers (slow)."""
from __future__ import annotations


import pytest
import torch

from export_helpers import check_text_exports, entry, require, run_export, text_export_fixture, tiny_student  # noqa: F401  (fixture)

BACKEND = "tflite"


text_export = text_export_fixture(BACKEND, "litert_torch")


def test_text_fp32_exact_and_int8_within_threshold(text_export):
    out, manifest = text_export
    check_text_exports(out, manifest, BACKEND)


def test_tflite_runs_in_interpreter_like_pytorch(text_export, tiny_student):
    from export.runtime import load_exported
    from mobileclip import get_tokenizer, load_checkpoint
    out, _ = text_export
    enc = load_exported(out, "tflite", "int8", check_hash=True)
    ids = get_tokenizer()(["a photo of a dog.", "two cats"])
    with torch.no_grad():
        ref = load_checkpoint(tiny_student).encode_text(ids)
    assert torch.nn.functional.cosine_similarity(enc.encode_text(ids), ref).min() > 0.99


@pytest.mark.slow
def test_image_tower_fp32(tiny_student, tmp_path):
    require("litert_torch")
    m = run_export(BACKEND, tiny_student, tmp_path, "none", towers=("image",))
    assert entry(m, BACKEND, "image", "fp32")["verification"]["cosine_min"] >= 0.9999
