"""executorch export on the tiny config (fast: text tower fp32 + int8) and on full-size/image towers (slow)."""
from __future__ import annotations


import pytest
import torch

from export_helpers import check_text_exports, entry, require, run_export, text_export_fixture, tiny_student  # noqa: F401  (fixture)

BACKEND = "executorch"


text_export = text_export_fixture(BACKEND, "executorch")


def test_text_fp32_exact_and_int8_within_threshold(text_export):
    out, manifest = text_export
    _, int8 = check_text_exports(out, manifest, BACKEND)
    info = int8["backend_info"]
    assert info["delegated_nodes"] > 0 and 0 < info["delegated_fraction"] <= 1


def test_pte_runs_in_runtime_like_pytorch(text_export, tiny_student):
    from export.runtime import list_exported, load_exported
    from mobileclip import get_tokenizer, load_checkpoint
    out, _ = text_export
    assert {(m["backend"], m["tower"]) for m in list_exported(out)} == {("executorch", "text")}
    enc = load_exported(out, "executorch", "fp32")
    ids = get_tokenizer()(["a photo of a dog.", "two cats"])
    with torch.no_grad():
        ref = load_checkpoint(tiny_student).encode_text(ids)
    assert torch.nn.functional.cosine_similarity(enc.encode_text(ids), ref).min() > 0.9999
    with pytest.raises(Exception, match="no executorch fp32 image model"):
        enc.encode_image(torch.zeros(1, 3, 32, 32))


@pytest.mark.slow
def test_image_tower_fp32(tiny_student, tmp_path):
    require("executorch")
    m = run_export(BACKEND, tiny_student, tmp_path, "none", towers=("image",))
    assert entry(m, BACKEND, "image", "fp32")["verification"]["cosine_min"] >= 0.9999
