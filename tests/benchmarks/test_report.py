"""benchmarks.report: the whole desktop report on tiny models, with plots and a device JSON."""
from __future__ import annotations

import json

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import create_model, save_checkpoint

from benchmarks import report as R


def test_report_tiny(tiny_teacher_dir, tmp_path, capsys):
    from mobileclip.data.synthetic import write_synthetic_dataset

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
    R.main(["--student", str(student), "--teacher", str(tiny_teacher_dir), "--reference", str(tiny_teacher_dir),
            "--runtimes", "eager", "--threads", "1",
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


def _demo_like_results():
    """What make demo's report holds: size/speed vs random ViT-B/32, accuracy vs a proxy teacher."""
    ref = "vit-b-32-random (RANDOM WEIGHTS: params/latency only, not accuracy)"
    proxy = ".cache/demo/teacher"
    student = "mnv3l-lsra-512 (student.pt)"
    params = {"teacher": ref, "models": [
        {"role": "teacher", "label": ref, "params": {"total": 151.28e6}, "fp32_weight_bytes": 605e6},
        {"role": "student", "label": student, "params": {"total": 19.64e6}, "fp32_weight_bytes": 78.6e6,
         "vs_teacher": {"params_fraction": 0.1298, "image_macs_ratio": 20.2, "text_macs_ratio": 17.6}}],
        "export": {"models": [
            {"backend": b, "tower": t, "quantization": q, "size_bytes": int(sz * 2**20)}
            for b, q, sz in (("executorch", "fp32", 38), ("executorch", "int8", 10.5), ("tflite", "fp32", 38.2),
                             ("tflite", "int8", 10.1), ("coreml", "fp32", 19.1), ("coreml", "int8", 10.3))
            for t in ("image", "text")]}}
    latency = {"teacher": ref, "machine": {"cpu": "cpu", "cores": 2, "platform": "linux", "torch": "2.13",
                                           "threads": [1], "repeats": 5, "date_utc": "now"},
               "goals": [{"threads": 1, "goal": "image, best runtime vs teacher image in PyTorch eager",
                          "value": 18.3, "measured": "18.3x", "target_text": ">= 25x", "at_most": False,
                          "runtime": "executorch int8", "target": 25.0, "met": False}],
               "results": []}
    acc_rows = [{"kind": "teacher", "runtime": "PyTorch eager", "precision": "fp32", "zeroshot": {"top1": 0.62, "n": 200}}]
    for rt, q, top1 in (("PyTorch eager", "fp32", 0.55), ("executorch", "fp32", 0.55), ("executorch", "int8", 0.545),
                        ("litert", "fp32", 0.55), ("litert", "int8", 0.54), ("coreml", "fp32", 0.55),
                        ("coreml", "int8", 0.55)):
        acc_rows.append({"kind": "student", "runtime": rt, "precision": q, "zeroshot": {"top1": top1, "n": 200},
                         "agreement": {"top1_agreement": 0.9}})
    accuracy = {"teacher": proxy, "zeroshot_dataset": ".cache/demo/data/classes/test", "results": acc_rows}
    return {"params": params, "latency": latency, "accuracy": accuracy}


def test_summary_never_compares_size_or_speed_with_the_proxy_teacher():
    res = _demo_like_results()
    lines = R.summary_lines({"results": res, "notes": []})
    ref, proxy = res["params"]["teacher"], res["accuracy"]["teacher"]
    assert lines[0] == f"size and speed reference: {ref}"
    assert any(line.startswith("accuracy teacher (a proxy") and line.endswith(proxy) for line in lines)
    size_speed = [line for line in lines if any(w in line for w in ("parameters", "MACs", "latency", "MiB"))]
    assert size_speed and all(proxy not in line and "teacher" not in line.split(":")[0] for line in size_speed)
    assert any("13.0% of the reference's 151.28M" in line for line in size_speed)
    # the accuracy teacher is the size reference too: plain label, no proxy note
    res["accuracy"]["teacher"] = ref
    assert "accuracy teacher: " + ref in R.summary_lines({"results": res, "notes": []})


def _text_boxes(fig):
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()  # tick labels outside the view limits exist as Text objects but are not drawn
    for ax in fig.axes:
        for axis, (lo, hi), i in ((ax.xaxis, ax.get_xlim(), 0), (ax.yaxis, ax.get_ylim(), 1)):
            hidden |= {id(t) for t in axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True)
                       if not min(lo, hi) <= t.get_position()[i] <= max(lo, hi)}
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and id(t) not in hidden]


def test_size_accuracy_plot_readable():
    """Every point of every runtime/precision is in the legend, no text overlaps another, and the proxy teacher
    (no size comparison) is a horizontal line, not a point at the reference's size."""
    import matplotlib.pyplot as plt

    fig = R.size_accuracy_figure(_demo_like_results())
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert len(labels) == 8 and labels[0].startswith("accuracy teacher") and "student: coreml int8" in labels
    assert not ax.texts  # no per-point annotations to collide
    boxes = _text_boxes(fig)
    overlaps = [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]
    assert not overlaps, overlaps
    assert {t.get_text() for t in ax.get_xticklabels() if t.get_text()}, "x axis needs tick labels"
    plt.close(fig)


def test_path_bytes_sums_a_core_ml_package(tmp_path):
    from benchmarks.common import path_bytes

    pkg = tmp_path / "image_fp32.mlpackage"
    (pkg / "Data" / "weights").mkdir(parents=True)
    (pkg / "Manifest.json").write_bytes(b"x" * 10)
    (pkg / "Data" / "weights" / "weight.bin").write_bytes(b"y" * 1000)
    (tmp_path / "model.pte").write_bytes(b"z" * 7)
    assert path_bytes(pkg) == 1010 and path_bytes(tmp_path / "model.pte") == 7
    assert path_bytes(tmp_path / "missing.mlpackage") is None


def test_latency_plot_readable():
    import matplotlib.pyplot as plt

    rows = [{"role": role, "tower": tower, "runtime": rt, "precision": q, "threads": 1, "median_ms": ms,
             "q1_ms": ms * 0.97, "q3_ms": ms * 1.04, "speedup_vs_teacher_eager": None if role == "teacher" else 150 / ms}
            for role, rts in (("teacher", (("eager", "fp32", 177.0),)),
                              ("student", (("eager", "fp32", 20.3), ("executorch", "fp32", 9.5),
                                           ("executorch", "int8", 9.3), ("litert", "fp32", 8.0), ("litert", "int8", 10.0))))
            for tower in ("image", "text") for rt, q, ms in rts]
    res = {"teacher": "vit-b-32-random (RANDOM WEIGHTS: params/latency only, not accuracy)", "results": rows,
           "machine": {"threads": [1], "cpu": "x86", "cores": 2, "repeats": 5, "torch": "2"}}
    fig = R.latency_figure(res)
    boxes = _text_boxes(fig)
    overlaps = [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]
    assert not overlaps, overlaps
    fig_box = fig.bbox
    assert all(fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 + 1 for _, b in boxes), "a label is cut off"
    assert sum(t.startswith("reference ") for t, _ in boxes) == 2
    plt.close(fig)


def test_cpu_isa_features_recorded():
    from benchmarks.common import cpu_isa, machine_info, machine_line

    x86 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n"
    arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp i8mm\n"
    assert cpu_isa(x86) == ["avx2", "fma", "avx512f", "avx512_vnni"]
    assert cpu_isa(arm) == ["asimd", "asimddp", "i8mm"] and cpu_isa("") == []
    info = machine_info(threads=[1])
    assert isinstance(info["isa"], list) and "(ISA: " in machine_line(info)
