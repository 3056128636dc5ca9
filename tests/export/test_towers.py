"""What every backend's export must do with a tower, one parametrised test per property (slow: real exporters)."""
from __future__ import annotations

import pytest

from tests.support.export_helpers import entry, require, run_export

# backend -> the package it needs (skipped with the reason when absent)
FP32_IMAGE_BACKENDS = {"executorch": "executorch", "tflite": "litert_torch"}  # Core ML "fp32" stores fp16 weights


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(FP32_IMAGE_BACKENDS))
def test_image_tower_fp32(backend, tiny_student, tmp_path):  # noqa: F811
    require(FP32_IMAGE_BACKENDS[backend])
    m = run_export(backend, tiny_student, tmp_path, "none", towers=("image",))
    assert entry(m, backend, "image", "fp32")["verification"]["cosine_min"] >= 0.9999
