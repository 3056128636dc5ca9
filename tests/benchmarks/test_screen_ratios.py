"""No speed-up or MAC ratio on any screen compares image towers at different input resolutions (issue 25):
``make demo``'s student reads 32-px images, the ViT-B/32 reference 224-px ones, and their latency ratio
("437x") was printed as a speed-up. Labels name the resolution instead."""
from __future__ import annotations

import re

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import create_model, save_checkpoint

from benchmarks import latency as L, report as R

RATIO = re.compile(r"\d+(\.\d+)?x\b")


@pytest.fixture(scope="module")
def teacher64(tmp_path_factory):
    """A tiny HF CLIP reading 64-px images (the tiny student reads 32 px)."""
    from tests.support.data import tiny_clip_config
    from transformers import CLIPModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher64")
    CLIPModel(tiny_clip_config(image_size=64)).save_pretrained(path)
    return path


def _case(model, role, tower, ms, size):
    c = L.Case(model, role, tower, "eager", "fp32", lambda t: None, macs=1000 if role == "teacher" else 10,
               image_size=size if tower == "image" else None)
    c.times_ms = {1: [ms, ms]}
    return c


def test_summarise_gives_no_cross_resolution_image_ratio():
    cases = [_case("T", "teacher", "image", 150.0, 224), _case("T", "teacher", "text", 90.0, None),
             _case("S", "student", "image", 0.4, 32), _case("S", "student", "text", 9.0, None)]
    rows, goals = L.summarise(cases, [1])
    student = {r["tower"]: r for r in rows if r["role"] == "student"}
    assert student["image"]["speedup_vs_teacher_eager"] is None
    assert student["image"]["speedup_vs_teacher_same_runtime"] is None
    assert student["image"]["mac_ratio_vs_teacher"] is None
    assert student["text"]["speedup_vs_teacher_eager"] == pytest.approx(10.0)  # text has no resolution
    assert not [g for g in goals if g["goal"].startswith("image")]
    notes = L.resolution_notes(rows)
    assert len(notes) == 1 and "32 px" in notes[0] and "224" in notes[0]
    same = [_case("T", "teacher", "image", 150.0, 224), _case("S", "student", "image", 10.0, 224)]
    rows, _ = L.summarise(same, [1])  # the same resolution keeps its ratio
    assert next(r for r in rows if r["role"] == "student")["speedup_vs_teacher_eager"] == pytest.approx(15.0)


def test_report_at_different_resolutions_shows_no_image_ratio(teacher64, tmp_path):
    torch.manual_seed(0)
    student = save_checkpoint(create_model("tiny-lsra-light"), tmp_path / "s.pt")
    out = tmp_path / "report"
    rep = R.main(["--student", str(student), "--teacher", str(teacher64), "--reference", str(teacher64),
                  "--skip", "accuracy", "--runtimes", "eager", "--threads", "1", "--repeats", "2", "--warmup", "0",
                  "--out", str(out)])
    md = (out / "report.md").read_text()
    summary = R.summary_lines(rep)
    (row,) = [ln for ln in md.splitlines() if ln.startswith("| student") and "image 32 px" in ln]
    assert [c.strip() for c in row.split("|")[-4:-1]] == ["—", "—", "—"]  # no speed-up, same-runtime or MAC ratio
    (text_row,) = [ln for ln in md.splitlines() if ln.startswith("| student") and "| text " in ln]
    assert RATIO.search(text_row)  # text towers (no resolution) keep their ratios
    for line in summary:
        assert "image" not in line or not RATIO.search(line.split("image")[1]), line
    assert "image 32 px" in md and "image 64 px" in md  # labels name the resolution
    assert "— (32 vs 64 px)" in md  # the params table's image MAC column
    assert any("image not compared (student 32 px, reference 64 px)" in s for s in summary)
    assert any("reads 32 px images, the reference 64 px" in s for s in summary)
    lat = rep["results"]["latency"]
    fig = R.latency_figure(lat)
    texts = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() + ax.texts]
    assert "student image 32 px: eager fp32" in texts and "reference image 64 px: eager fp32" in texts
    image_bar = texts[len(fig.axes[0].get_yticklabels()):][[r["tower"] == "image" and r["role"] == "student"
                                                            for r in lat["results"]].index(True)]
    assert "x)" not in image_bar  # the bar's value label carries no speed-up
    text_bars = [t for t, r in zip(texts[len(fig.axes[0].get_yticklabels()):], lat["results"])
                 if r["role"] == "student" and r["tower"] == "text"]
    assert text_bars and all(RATIO.search(t) for t in text_bars)  # text towers keep theirs
