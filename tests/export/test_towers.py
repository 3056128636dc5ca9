"""What every backend's export must do with a tower, one parametrised test per property (slow: real exporters)."""
from __future__ import annotations

import pytest
import torch

from tests.support.export_helpers import entry, require, run_export

# backend -> the package it needs (skipped with the reason when absent)
FP32_IMAGE_BACKENDS = {"executorch": "executorch", "tflite": "litert_torch"}  # Core ML "fp32" stores fp16 weights


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(FP32_IMAGE_BACKENDS))
def test_image_tower_fp32(backend, tiny_student, tmp_path):  # noqa: F811
    require(FP32_IMAGE_BACKENDS[backend])
    m = run_export(backend, tiny_student, tmp_path, "none", towers=("image",))
    assert entry(m, backend, "image", "fp32")["verification"]["cosine_min"] >= 0.9999


def test_tower_classes_keep_their_first_export_paths():
    """LiteRT writes each module class's Python path into the .tflite tensor names: the classes keep the paths
    they were first exported under (the files stayed byte-identical through the mobileclip/models/ move)."""
    from export.towers import ImageTower, TextTower
    from mobileclip.models import image_encoder, lite_transformer

    assert ImageTower.__module__ == TextTower.__module__ == "export.common"
    assert image_encoder.MobileNetV3Image.__module__ == "mobileclip.image_encoder"
    classes = [v for v in vars(lite_transformer).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__.startswith("mobileclip")]
    assert len(classes) >= 8 and {c.__module__ for c in classes} == {"mobileclip.lite_transformer"}
