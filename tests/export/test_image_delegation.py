"""The MobileNetV3 image tower runs in XNNPACK as one subgraph (>= 99 % of the lowered nodes), fp32 and int8.

Before ``export.executorch.DelegableImageTower`` it ran 91.8 % in 3 subgraphs: the final ``F.normalize``
(``pow``, ``sum``, ``expand``) and 16 casts of hardsigmoid's int64 constants on portable kernels."""
from __future__ import annotations

import pytest
import torch

from tests.support.export_helpers import require

GOAL = 0.99


def _tower(name: str, size: int | None = None):
    from export.towers import ImageTower
    from mobileclip import create_model

    torch.manual_seed(0)
    model = create_model(name, **({"vision_cfg": {"image_size": size}} if size else {})).eval()
    return ImageTower(model.visual).eval(), int(model.preprocess_cfg["image_size"])


def test_delegable_image_tower_same_outputs():
    """The rewritten tower (float hardsigmoid, normalisation without pow/sum) gives the training form's outputs."""
    from export.executorch import DelegableImageTower

    tower, size = _tower("tiny-lsra-light")
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(DelegableImageTower(tower.visual)(x), tower(x), atol=1e-5, rtol=1e-5)


def _lower_and_check(tower, size: int, recipes, tmp_path):
    from export.executorch import BACKEND as ET, Recipe, load_pte

    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = tower(x)
    for recipe in recipes:
        quantization = "fp32" if recipe is Recipe.FP32 else "int8"
        path = tmp_path / f"{recipe.value}.pte"
        info = ET.export(tower, x, "image", quantization, recipe, [x[0]], path).info
        assert info["delegated_fraction"] >= GOAL and info["delegated_subgraphs"] == 1, (recipe, info)
        out = torch.from_numpy(load_pte(path).execute([x])[0].numpy())
        cos = torch.nn.functional.cosine_similarity(out, ref).item()
        assert cos >= (0.9999 if quantization == "fp32" else 0.99), (recipe, cos)


def test_tiny_image_tower_one_subgraph_fp32(tmp_path):
    require("executorch")
    from export.executorch import Recipe

    _lower_and_check(*_tower("tiny-lsra-light"), [Recipe.FP32], tmp_path)


@pytest.mark.slow
def test_tiny_image_tower_one_subgraph_int8(tmp_path):
    require("executorch")
    from export.executorch import Recipe

    _lower_and_check(*_tower("tiny-lsra-light"), [Recipe.INT8_DYNAMIC], tmp_path)


@pytest.mark.slow
def test_full_size_image_tower_one_subgraph(tmp_path):
    """The default student's 224-px tower, fp32 and the default int8 recipe."""
    require("executorch")
    from export.executorch import Recipe

    _lower_and_check(*_tower("mnv3l-lsra-512"), [Recipe.FP32, Recipe.INT8_DYNAMIC], tmp_path)


@pytest.mark.slow
def test_image_export_passes_gate(tiny_student, tmp_path):  # noqa: F811
    """Through the whole pipeline (verification gate included). fp32 only: the tiny width-0.25 random student's
    int8 image tower misses the int8 cosine gate with or without the rewrite (min cosine 0.733 both, measured);
    int8 on the full-size tower is checked above, and the trained students' int8 gates in test_export_trained."""
    require("executorch")
    from tests.support.export_helpers import entry, run_export

    m = run_export("executorch", tiny_student, tmp_path, "none", towers=("image",))
    e = entry(m, "executorch", "image", "fp32")
    assert e["verification"]["passed"], e["verification"]
    assert e["backend_info"]["delegated_fraction"] >= GOAL and e["backend_info"]["delegated_subgraphs"] == 1
