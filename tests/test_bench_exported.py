"""Benchmarks on really exported models (ExecuTorch + LiteRT, int8) of a tiny student: latency in both runtimes at
1 and all threads, accuracy of the exported towers beside the PyTorch student. Slow: runs the exporters."""
from __future__ import annotations

import os

import pytest

from export_helpers import require, tiny_student  # noqa: F401  (fixture)

from benchmarks import accuracy as A
from benchmarks import latency as L
from benchmarks import params as P

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tiny_student, tmp_path_factory):  # noqa: F811
    require("executorch")
    require("ai_edge_litert")
    out = tmp_path_factory.mktemp("export")
    import importlib

    from export.pipeline import export_checkpoint
    from export.verify import Thresholds

    for backend in ("executorch", "tflite"):  # benchmarks measure whatever was exported: no accuracy gate here
        export_checkpoint(importlib.import_module(f"export.{backend}").BACKEND, tiny_student, out, quantize="int8",
                          towers=("image", "text"), per_class=1, n_calib=8,
                          thresholds=Thresholds(fp32_cosine=0.0, fp16_cosine=0.0, int8_cosine=0.0, int8_agreement=0.0))
    return out


def test_latency_exported_runtimes(exported, tmp_path):
    res = L.main(["--students", "tiny-lsra-light", "--teacher", "", "--export", str(exported), "--runtimes",
                  "eager,executorch,litert", "--threads", "1,all", "--repeats", "3", "--warmup", "1",
                  "--no-progress", "--out", str(tmp_path)])
    got = {(r["runtime"], r["precision"], r["tower"], r["threads"]) for r in res["results"]}
    for runtime in ("executorch", "litert"):
        for tower in ("image", "text"):
            for t in {1, os.cpu_count()}:
                assert (runtime, "int8", tower, t) in got
    assert not res["skipped"]


def test_accuracy_and_sizes_exported(exported, tiny_student, tiny_teacher_dir, tmp_path):  # noqa: F811
    from mobileclip.data import write_synthetic_dataset

    data = tmp_path / "synth"
    write_synthetic_dataset(data, n_train=4, n_test=16, size=32)
    res = A.main([str(tiny_student), "--teacher", str(tiny_teacher_dir), "--export", str(exported),
                  "--zeroshot", str(data / "classes" / "test"), "--retrieval", str(data / "captions_test.csv"),
                  "--templates", "single", "--no-progress", "--out", str(tmp_path)])
    rows = {(r["kind"], r["runtime"], r["precision"]): r for r in res["results"]}
    assert set(rows) >= {("teacher", "PyTorch eager", "fp32"), ("student", "PyTorch eager", "fp32"),
                         ("student", "executorch", "int8"), ("student", "litert", "int8")}
    assert any("coreml" in s["what"] for s in res["skipped"])
    for key in (("student", "executorch", "int8"), ("student", "litert", "int8")):
        assert rows[key]["zeroshot"]["n"] == 16 and rows[key]["retrieval"]["n_images"] == 16
    p = P.main(["--students", str(tiny_student), "--teacher", "", "--export", str(exported)])
    assert {(m["backend"], m["quantization"]) for m in p["export"]["models"]} == {("executorch", "int8"),
                                                                                 ("tflite", "int8")}
    assert all(m["size_bytes"] > 0 for m in p["export"]["models"])
