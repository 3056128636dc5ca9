"""Shared by tests/test_export_*.py: a tiny BN-calibrated student and a once-per-session export runner."""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=FutureWarning)

# The tiny student is random-init with re-estimated BatchNorm statistics. It is untrained, so its
# image-to-prompt similarities are near ties and an int8 cosine of 0.9999 still flips 3-6 of 56 zero-shot
# predictions (measured: 89-96% agreement). The tests therefore gate int8 on cosine at the real threshold
# (0.99) and record but do not gate agreement; the 98% default is for trained checkpoints (README).
TEST_INT8_AGREEMENT = 0.0


def require(module: str):
    try:
        importlib.import_module(module)
    except ImportError as e:
        pytest.skip(f"optional backend package {module} not installed ({e})")


def run_export(backend_name: str, ckpt: Path, out: Path, quantize: str, towers=("text",), thresholds=None, **kw):
    from export.pipeline import export_checkpoint
    from export.verify import Thresholds

    backend = importlib.import_module(f"export.{backend_name}").BACKEND
    thresholds = thresholds or Thresholds()
    thresholds.int8_agreement = TEST_INT8_AGREEMENT
    return export_checkpoint(backend, ckpt, out, quantize=quantize, towers=towers, thresholds=thresholds, **kw)


def entry(manifest: dict, backend: str, tower: str, quantization: str) -> dict:
    (e,) = [m for m in manifest["models"]
            if (m["backend"], m["tower"], m["quantization"]) == (backend, tower, quantization)]
    return e


def text_export_fixture(backend_name: str, module: str):
    """Module-scoped fixture: the tiny student's text tower exported fp32 then int8 into one folder;
    returns ``(out_dir, manifest)``. Skips with a reason when ``module`` (the backend package) is absent."""

    @pytest.fixture(scope="module")
    def text_export(tiny_student, tmp_path_factory):
        require(module)
        out = tmp_path_factory.mktemp(backend_name)
        run_export(backend_name, tiny_student, out, "none", towers=("text",))
        return out, run_export(backend_name, tiny_student, out, "int8", towers=("text",))

    return text_export


def check_text_exports(out: Path, manifest: dict, backend: str, fp32_cosine: float = 0.9999) -> tuple[dict, dict]:
    """What every backend's text export must satisfy: fp32 exact, int8 within the gate, int32 ids, the int8
    file well below the fp32 one, files and vocabulary written. Returns the (fp32, int8) manifest entries."""
    fp32, int8 = entry(manifest, backend, "text", "fp32"), entry(manifest, backend, "text", "int8")
    assert fp32["verification"]["passed"] and fp32["verification"]["cosine_min"] >= fp32_cosine
    assert int8["verification"]["passed"] and int8["verification"]["cosine_min"] >= 0.99
    assert fp32["inputs"][0]["dtype"] == "int32" and fp32["inputs"][0]["shape"] == [1, 77]
    assert int8["size_bytes"] < 0.6 * fp32["size_bytes"]  # the int8 embedding table is most of the file
    assert (out / int8["file"]).exists() and (out / "tokenizer" / "vocab.json").exists()
    return fp32, int8
