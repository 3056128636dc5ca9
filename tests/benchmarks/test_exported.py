"""Benchmarks on really exported models (ExecuTorch + LiteRT, int8) of a tiny student: latency in both runtimes at
1 and all threads, accuracy of the exported towers beside the PyTorch student. Slow: runs the exporters."""
from __future__ import annotations

import os

import pytest

from tests.support.export_helpers import require

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
    from mobileclip.data.synthetic import write_synthetic_dataset

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


def test_latency_same_runtime_against_exported_teacher(exported, tiny_teacher_dir, tmp_path):
    from export import teacher as T

    teacher_dir = tmp_path / "teacher"
    T.main([str(tiny_teacher_dir), "--out", str(teacher_dir), "--backends", "executorch,tflite"])
    res = L.main(["--students", "", "--teacher", "", "--export", str(exported), "--teacher-export", str(teacher_dir),
                  "--runtimes", "executorch,litert", "--threads", "1", "--repeats", "3", "--warmup", "1",
                  "--no-progress", "--out", str(tmp_path)])
    rows = res["results"]
    teacher = {(r["runtime"], r["tower"]): r for r in rows if r["role"] == "teacher"}
    assert set(teacher) == {(rt, t) for rt in ("executorch", "litert") for t in ("image", "text")}
    for r in (r for r in rows if r["role"] == "student"):
        same = teacher[r["runtime"], r["tower"]]  # the student's int8 file against the teacher's fp32 file
        assert r["same_runtime_teacher_precision"] == "fp32"
        assert r["speedup_vs_teacher_same_runtime"] == pytest.approx(same["median_ms"] / r["median_ms"])
        assert r["mac_ratio_vs_teacher"] == pytest.approx(same["macs"] / r["macs"])
    md = (tmp_path / "latency.md").read_text()
    assert "teacher/student MACs" in md and "(teacher fp32)" in md
    with pytest.raises(SystemExit):  # a student folder given as the teacher's is refused with one line
        L.main(["--students", "", "--teacher", "", "--teacher-export", str(exported), "--runtimes", "executorch"])
