"""executorch export on the tiny config (fast: text tower fp32 + int8) and on full-size/image towers (slow)."""
from __future__ import annotations


import pytest
import torch

from tests.support.export_helpers import check_text_exports, require, text_export_fixture

BACKEND = "executorch"


text_export = text_export_fixture(BACKEND, "executorch")


def test_text_fp32_exact_and_int8_within_threshold(text_export):
    out, manifest = text_export
    fp32, int8 = check_text_exports(out, manifest, BACKEND)
    for info in (fp32["backend_info"], int8["backend_info"]):
        # export_friendly(): all but the embedding gather and the ids' int->float cast run in XNNPACK
        assert info["delegated_fraction"] >= 0.95 and info["delegated_subgraphs"] == 1, info


@pytest.mark.slow
def test_dynamic_conv_text_tower_delegated(tmp_path):
    """The dynamic-convolution LSRA tower (tiny-lsra-dyn) lowers as fully to XNNPACK, fp32 and int8."""
    require("executorch")
    from export.executorch import BACKEND as ET, Recipe, load_pte
    from export.towers import TextTower  # what the pipeline hands a backend
    from mobileclip import create_model

    torch.manual_seed(0)
    tower = TextTower(create_model("tiny-lsra-dyn").text.eval()).eval()
    ids = torch.zeros(1, 77, dtype=torch.int32)
    ids[0, :4] = torch.tensor([49406, 320, 1125, 49407])
    for recipe, quantization in ((Recipe.FP32, "fp32"), (Recipe.INT8_DYNAMIC_LINEAR, "int8")):
        path = tmp_path / f"{quantization}.pte"
        info = ET.export(tower, ids, "text", quantization, recipe, [ids[0]], path).info
        assert info["delegated_fraction"] >= 0.95 and info["delegated_subgraphs"] == 1, info
        with torch.no_grad():
            ref = tower(ids)
        out = torch.from_numpy(load_pte(path).execute([ids])[0].numpy())
        assert torch.nn.functional.cosine_similarity(out, ref).item() >= (0.9999 if quantization == "fp32" else 0.99)


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


def _quantized_conv_weights(graph_module) -> dict[str, bool]:
    """conv node -> whether its weight comes through a dequantize op (i.e. is stored int8)."""
    return {n.name: "dequantize" in str(getattr(n.args[1], "target", ""))
            for n in graph_module.graph.nodes if n.op == "call_function" and "conv" in str(n.target)}


def test_dynamic_recipe_quantizes_conv_followed_by_relu():
    """xnnpack-int8-dynamic covers every 2-D non-depthwise conv, including one consumed by a ReLU (the stock
    XNNPACKQuantizer leaves those to its static-only conv+relu pattern, i.e. fp32); depthwise stays fp32."""
    require("executorch")
    from export.executorch import BACKEND, Recipe

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), torch.nn.ReLU(),  # expand -> ReLU
                              torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
                              torch.nn.Hardswish(), torch.nn.Conv2d(8, 4, 1)).eval()  # plain conv
    x = torch.randn(1, 3, 8, 8)
    q = BACKEND._quantize(net, x, "image", Recipe.INT8_DYNAMIC, [x[0]])
    assert sorted(_quantized_conv_weights(q).values()) == [False, True, True]
    with torch.no_grad():
        assert torch.nn.functional.cosine_similarity(q(x).flatten(), net(x).flatten(), dim=0) > 0.99
