"""A small natural-image KD student (CIFAR-10, proxy teacher, a few dozen steps: trained, not random) exports fp32
and int8 to all three backends with the default settings, and every verification gate passes. Slow."""
from __future__ import annotations

import importlib

import pytest

from tests.support.export_helpers import require

pytestmark = pytest.mark.slow

STEPS = 40  # enough to leave random init: the zero-shot logits have a structure the gate must handle


@pytest.fixture(scope="module")
def kd_student(tmp_path_factory):
    from mobileclip.models.factory import DEFAULT_MODEL
    from mobileclip.data.datasets import extract_shared, shared_data_dir
    from mobileclip.training.loop import TrainConfig, train

    if not (shared_data_dir(None) / "cifar10.tar.gz").is_file():
        pytest.skip("cifar10.tar.gz is not in the shared data folder beside the repository")
    root = extract_shared("cifar10.tar.gz")
    out = tmp_path_factory.mktemp("kd")
    # the kd_ablation recipe, with tiny step counts: proxy HF CLIP teacher, then the default student distilled
    common = dict(train_data=str(root / "train"), workers=0, image_size=32, quiet=True, log_every=10,
                  resume="none", seed=0, save_every=100000, batch_size=32)
    train(TrainConfig(arch="hf-clip", hf_config="cpu-vit", no_kd=True, steps=STEPS, lr=1e-3,
                      out=str(out / "teacher"), **common))
    train(TrainConfig(model=DEFAULT_MODEL, train_subset=0.02, steps=STEPS, lr=1e-3, teacher=str(out / "teacher" / "hf"),
                      out=str(out / "student"), **common))
    return out / "student" / "final.pt"


@pytest.mark.parametrize("backend,package", [("executorch", "executorch"), ("coreml", "coremltools"),
                                             ("tflite", "ai_edge_litert")])
def test_trained_student_passes_every_default_gate(kd_student, backend, package, tmp_path):
    from export.pipeline import export_checkpoint

    require(package)
    mod = importlib.import_module(f"export.{backend}")
    for quantize in ("none", "int8"):  # default recipe, calibration/verification data and thresholds
        export_checkpoint(mod.BACKEND, kd_student, tmp_path, quantize=quantize)  # raises on a failed gate
    from export.manifest import read_manifest

    models = read_manifest(tmp_path)["models"]
    assert {(m["tower"], m["quantization"]) for m in models} == {(t, q) for t in ("image", "text")
                                                                 for q in ("fp32", "int8")}
    for m in models:
        v = m["verification"]
        assert v["passed"], (backend, m["tower"], m["quantization"], v)
        if m["quantization"] == "int8":  # decisive agreement gated (or said to be unmeasurable), raw beside it
            f = v["zero_shot_fidelity"]
            assert "zero_shot_agreement" in v and f["n"] == v["zero_shot_n"]
            assert f["decisive_agreement"] is not None or "not measurable" in v["threshold"]
