"""tflite export on the tiny config (fast: text tower fp32 + int8) and on full-size/image towers (slow)."""
from __future__ import annotations


import torch

from tests.support.export_helpers import check_text_exports, require, text_export_fixture

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


def _op_input_dtypes(path) -> dict[str, list]:
    """op name -> dtype names of each instance's inputs (weights included), read from the interpreter."""
    from export.tflite import interpreter_class
    interp = interpreter_class()(model_path=str(path))
    tensors = {t["index"]: t["dtype"].__name__ for t in interp.get_tensor_details()}
    out = {}
    for op in interp._get_ops_details():
        out.setdefault(op["op_name"], []).append([tensors.get(i) for i in op["inputs"] if i >= 0])
    return out


def test_default_int8_recipe_keeps_depthwise_compute_float(tmp_path):
    """dynamic-wi8-afp32-float-depthwise: pointwise conv weights int8 (dynamic), depthwise conv weights int8
    but dequantized to float before the op (weight-only); the file is int8-sized either way."""
    require("litert_torch")
    from export.tflite import BACKEND, Recipe
    net = torch.nn.Sequential(torch.nn.Conv2d(8, 64, 1), torch.nn.Hardswish(),
                              torch.nn.Conv2d(64, 64, 3, padding=1, groups=64), torch.nn.Hardswish(),
                              torch.nn.Conv2d(64, 64, 1)).eval()
    x = torch.randn(1, 8, 16, 16)
    assert BACKEND.default_recipe("image", "int8") is Recipe.DYNAMIC_WI8_AFP32_FLOAT_DW
    BACKEND.export(net, x, "image", "int8", Recipe.DYNAMIC_WI8_AFP32_FLOAT_DW, [x[0]], tmp_path / "m.tflite")
    ops = _op_input_dtypes(tmp_path / "m.tflite")
    assert all("int8" in dtypes for dtypes in ops["CONV_2D"])  # dynamic: int8 weights into the op
    assert all("int8" not in dtypes for dtypes in ops["DEPTHWISE_CONV_2D"])  # float compute
    assert "DEQUANTIZE" in ops  # ... from int8 weights stored in the file
    BACKEND.export(net, x, "image", "int8", Recipe.DYNAMIC_WI8_AFP32, [x[0]], tmp_path / "d.tflite")
    assert all("int8" in dtypes for dtypes in _op_input_dtypes(tmp_path / "d.tflite")["DEPTHWISE_CONV_2D"])
