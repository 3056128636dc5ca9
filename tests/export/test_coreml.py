"""coreml export on the tiny config (fast: text tower fp32 + int8) and on full-size/image towers (slow)."""
from __future__ import annotations

import sys


from tests.support.export_helpers import check_text_exports, entry, require, run_export, text_export_fixture

BACKEND = "coreml"


text_export = text_export_fixture(BACKEND, "coremltools")


def test_text_fp32_exact_and_int8_within_threshold(text_export):
    out, manifest = text_export
    fp32, int8 = check_text_exports(out, manifest, BACKEND, fp32_cosine=0.999)  # "fp32" stores fp16 weights
    for e in (fp32, int8):
        assert e["file"].endswith(".mlpackage") and e["backend_info"]["minimum_deployment_target"] == "iOS17"
        assert e["backend_info"]["io"]["input_ids"]["dtype"] == "int32"
        assert e["backend_info"]["io"]["embedding"] == {"kind": "outputs", "shape": [1, 32], "dtype": "fp32"}
    assert "constexpr_affine_dequantize" in int8["backend_info"]["mil_ops"]
    assert "constexpr_affine_dequantize" not in fp32["backend_info"]["mil_ops"]
    if sys.platform != "darwin":
        assert "Core ML predict not run" in int8["verification"]["method"]


def test_image_tower_fp16_and_int8_program(tiny_student, tmp_path):
    require("coremltools")
    from export.verify import Thresholds
    # fp16 weights on the random tiny image tower give cosine ~0.998 (< the 0.999 default for fp16)
    run_export(BACKEND, tiny_student, tmp_path, "none", towers=("image",), thresholds=Thresholds(fp16_cosine=0.99))
    from export.errors import VerificationError
    try:  # the random tiny image tower may miss the int8 threshold; the program is still checked
        m = run_export(BACKEND, tiny_student, tmp_path, "int8", towers=("image",))
    except VerificationError:
        from export.manifest import read_manifest
        m = read_manifest(tmp_path)
    fp32, int8 = entry(m, BACKEND, "image", "fp32"), entry(m, BACKEND, "image", "int8")
    assert fp32["verification"]["passed"] and fp32["verification"]["cosine_min"] >= 0.99
    assert fp32["backend_info"]["io"]["image"] == {"kind": "inputs", "shape": [1, 3, 32, 32], "dtype": "fp32"}
    assert int8["backend_info"]["int8_weight_tensors"] > 0
    assert int8["verification"]["cosine_min"] > 0.9  # weight-only int8 on a random net: close, not exact


def test_fp32_compute_recipe_stores_fp32_weights(tiny_student, tmp_path):
    require("coremltools")
    m = run_export(BACKEND, tiny_student, tmp_path, "none", towers=("text",), recipe="fp32-compute")
    e = entry(m, BACKEND, "text", "fp32")
    assert e["recipe"] == "fp32-compute" and e["backend_info"]["compute_precision"] == "float32"
    assert e["verification"]["passed"] and e["verification"]["cosine_min"] >= 0.9999  # the fp32 gate, not fp16's
    fp16 = run_export(BACKEND, tiny_student, tmp_path / "fp16", "none", towers=("text",))
    assert e["size_bytes"] > 1.8 * entry(fp16, BACKEND, "text", "fp32")["size_bytes"]


def test_int8_quantises_weights_only(text_export):
    """No int8 constant with a zero or infinite scale: the attention mask's all-zero constant stays float."""
    import numpy as np

    from export.coreml import load_mil_program

    out, manifest = text_export
    _, prog = load_mil_program(out / entry(manifest, BACKEND, "text", "int8")["file"])
    scales = [np.asarray(op.scale.val) for op in prog.functions["main"].operations
              if op.op_type in ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")]
    assert scales and all(np.isfinite(s).all() and (s > 0).all() for s in scales)
