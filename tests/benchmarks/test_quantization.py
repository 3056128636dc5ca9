"""benchmarks.quantization: one row per export recipe with size, latency, zero-shot, R@1/R@10, top-10 overlap."""
from __future__ import annotations

import pytest

import mobileclip  # noqa: F401  (before torchvision)

from benchmarks import quantization as Q
from benchmarks.quantization_report import search_gate, to_markdown
from tests.support.export_helpers import require


def _row(q, overlap, r1, recipe="r"):
    return {"runtime": "litert", "tower": "image", "quantization": q, "recipe": recipe, "size_bytes": 2**20,
            "latency_ms": 1.0, "zeroshot_top1": 0.5, "R@1": r1, "R@10": 0.9, "top10_overlap": overlap,
            "export_gate": True}


def test_search_gate_rules():
    ref = {"R@1": 0.40}
    assert search_gate(_row("int8", 0.95, 0.395), ref, 0.9, 0.01) == "pass"
    assert search_gate(_row("int8", 0.85, 0.40), ref, 0.9, 0.01).startswith("FAIL (overlap 0.850")
    assert "R@1 -2.0 pt" in search_gate(_row("int8", 0.95, 0.38), ref, 0.9, 0.01)
    assert search_gate(_row("fp32", 0.5, 0.1), ref, 0.9, 0.01) == "—"  # only int8 recipes are gated


def test_recipes_cover_every_fitting_recipe():
    from export.executorch import BACKEND as ET
    from export.tflite import BACKEND as TF

    text = [r.value for r, _ in Q.recipes_of(ET, "text")]
    assert text[0] == "xnnpack-fp32" and "xnnpack-int8-static" not in text  # static would quantise the mask
    assert len(Q.recipes_of(ET, "image")) == len(ET.Recipe)
    assert [q for _, q in Q.recipes_of(TF, "image")] == ["fp32", "int8", "int8", "int8"]


def test_markdown_names_gallery_and_gates():
    rows = [dict(_row("fp32", 1.0, 0.4, None), runtime="PyTorch eager", tower="both", size_bytes=None,
                 latency_ms=None), _row("int8", 0.8, 0.35)]
    for r in rows:
        r["search_gate"] = search_gate(r, rows[0], 0.9, 0.01)
    result = {"checkpoint": "s.pt", "gallery": {"photos": 1050, "captions_csv": "c.csv", "captioned": 800,
                                               "distractors": 250, "queries": 4000},
              "zeroshot": {"folder": "z", "n": 1000, "templates": "ensemble"}, "results": rows, "skipped": [],
              "machine": {"cpu": "x", "isa": [], "cores": 2, "platform": "p", "torch": "t", "threads": 1,
                          "date_utc": "d"}}
    md = to_markdown(result)
    assert "1050 photos (800 captioned" in md and "FAIL (overlap 0.800" in md and "R@1 -5.0 pt" in md


@pytest.mark.slow
def test_quantization_tiny_end_to_end(tiny_student, tmp_path):
    require("executorch")
    from mobileclip.data.synthetic import write_synthetic_dataset

    data = tmp_path / "syn"
    write_synthetic_dataset(data, n_train=4, n_test=24, size=32)
    res = Q.main([str(tiny_student), "--runtimes", "executorch", "--towers", "text", "--zeroshot",
                  str(data / "classes" / "test"), "--retrieval", str(data / "captions_test.csv"), "--distractors", "8",
                  "--zeroshot-limit", "16", "--templates", "single", "--repeats", "2", "--out", str(tmp_path / "q")])
    rows = res["results"]
    assert [r["recipe"] for r in rows] == [None, "xnnpack-fp32", "xnnpack-int8-dynamic", "xnnpack-int8-dynamic-linear"]
    assert res["gallery"]["photos"] == 32 and res["gallery"]["distractors"] == 8 and res["zeroshot"]["n"] == 16
    fp32 = rows[1]
    assert fp32["top10_overlap"] == pytest.approx(1.0) and fp32["R@1"] == pytest.approx(rows[0]["R@1"])
    assert all(r["size_bytes"] > 0 and r["latency_ms"] > 0 for r in rows[1:])
    assert (tmp_path / "q" / "quantization.png").stat().st_size > 0
