"""benchmarks.report: the whole desktop report on tiny models, with plots and a device JSON."""
from __future__ import annotations

import json

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import create_model, save_checkpoint

from benchmarks import report as R


def test_report_tiny(tiny_teacher_dir, tmp_path, capsys):
    from mobileclip.data import write_synthetic_dataset

    torch.manual_seed(0)
    student = save_checkpoint(create_model("tiny-lsra-light"), tmp_path / "s.pt")
    data = tmp_path / "synth"
    write_synthetic_dataset(data, n_train=4, n_test=16, size=32)
    device = {"benchmark": "device", "device": {"model": "Pixel 7", "serial": "x", "abi": "arm64-v8a"},
              "host": {"cpu": "test"}, "complete": True, "skipped": [],
              "results": [{"file": "image_int8.tflite", "tower": "image", "quantization": "int8", "runtime": "litert",
                           "threads": 4, "inference_avg_ms": 3.25, "count": 50}]}
    (tmp_path / "device.json").write_text(json.dumps(device))
    out = tmp_path / "report"
    R.main(["--student", str(student), "--teacher", str(tiny_teacher_dir), "--runtimes", "eager", "--threads", "1",
            "--repeats", "3", "--warmup", "1", "--zeroshot", str(data / "classes" / "test"), "--retrieval",
            str(data / "captions_test.csv"), "--templates", "single", "--device-json", str(tmp_path / "device.json"),
            "--out", str(out)])
    md = (out / "report.md").read_text()
    for needle in ("## Summary", "Parameters and MACs", "Latency (batch 1)", "Accuracy", "On-device latency",
                   "Pixel 7", "![latency](latency.png)", "Machine:", "repeats 3", str(tiny_teacher_dir)):
        assert needle in md, needle
    for png in ("latency.png", "size_accuracy.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for part in ("params", "latency", "accuracy"):
        assert json.loads((out / f"{part}.json").read_text())["benchmark"] == part
    printed = capsys.readouterr().out
    assert "== summary ==" in printed and "phone Pixel 7: image_int8.tflite 4 thread(s) 3.25 ms" in printed


def test_report_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        R.main(["--skip", "params,latency,gpu", "--out", str(tmp_path)])
    assert e.value.code == 2 and "unknown part(s) gpu" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        R.main(["--skip", "params,latency,accuracy", "--device-json", str(tmp_path / "nope.json"), "--out", str(tmp_path)])
    assert "--device-json" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        R.parse_args(["--help"])
    assert e.value.code == 0 and "--device-json" in capsys.readouterr().out
