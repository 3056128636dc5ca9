"""benchmarks.params / latency / accuracy on tiny configs: real measurements, checked for shape and sanity."""
from __future__ import annotations

import json

import pytest

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import create_model

from benchmarks import accuracy as A
from benchmarks import latency as L
from benchmarks import params as P


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from mobileclip.data.synthetic import write_synthetic_dataset

    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic_dataset(out, n_train=8, n_test=24, size=32, seed=0)
    return out


@pytest.mark.parametrize("cli", [P, L, A])
def test_help(cli, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(["--help"])
    assert e.value.code == 0 and "--out" in capsys.readouterr().out


def test_params_tiny(tiny_ckpt, tiny_teacher_dir, tmp_path):
    res = P.main(["--students", f"tiny-lsra-light,{tiny_ckpt}", "--teacher", str(tiny_teacher_dir),
                  "--out", str(tmp_path)])
    teacher, reg, ckpt = res["models"]
    model = create_model("tiny-lsra-light")
    assert reg["params"] == mobileclip.tower_parameters(model) == ckpt["params"]
    # MobileNetV3 / transformer MACs are dominated by convs and matmuls: the counter must see them
    assert reg["macs"]["image"] > 0 and reg["macs"]["text"] > 0 and teacher["macs"]["image"] > 0
    # a ViT's patch-embedding conv alone is (32/8)^2 patches * 32 channels * 3*8*8 inputs MACs
    assert teacher["macs"]["image"] >= 16 * 32 * 192
    assert reg["vs_teacher"]["params_fraction"] == pytest.approx(reg["params"]["total"] / teacher["params"]["total"])
    saved = json.loads((tmp_path / "params.json").read_text())
    assert saved["machine"]["cpu"] and saved["models"][1]["label"].startswith("tiny-lsra-light")
    assert "Parameters and MACs" in (tmp_path / "params.md").read_text()


def test_params_export_sizes(tmp_path, tiny_teacher_dir):
    (tmp_path / "executorch").mkdir()
    for q, n in (("fp32", 4000), ("int8", 1000)):
        (tmp_path / "executorch" / f"image_{q}.pte").write_bytes(b"\0" * n)
    manifest = {"format": "mobileclip-kd-export", "format_version": 1, "models": [{"backend": "executorch", "tower": "image", "quantization": q,
                            "file": f"executorch/image_{q}.pte", "size_bytes": n} for q, n in (("fp32", 4000),
                                                                                               ("int8", 1000))]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    res = P.main(["--students", "tiny-lsra-light", "--teacher", "", "--export", str(tmp_path), "--md",
                  str(tmp_path / "p.md")])
    assert [m["size_bytes"] for m in res["export"]["models"]] == [4000, 1000]
    assert "int8 is 4.00x smaller than fp32" in (tmp_path / "p.md").read_text()


def test_latency_tiny(tiny_teacher_dir, tmp_path):
    res = L.main(["--students", "tiny-lsra-light", "--teacher", str(tiny_teacher_dir), "--runtimes",
                  "eager,executorch,coreml", "--threads", "1,all", "--repeats", "4", "--warmup", "1",
                  "--no-progress", "--out", str(tmp_path)])
    rows = res["results"]
    threads = sorted({1, __import__("os").cpu_count()})
    assert len(rows) == 4 * len(threads)  # (teacher, student) x (image, text) x threads
    for r in rows:
        assert r["n"] == 4 and len(r["times_ms"]) == 4 and 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
    s = next(r for r in rows if r["role"] == "student" and r["tower"] == "image" and r["threads"] == 1)
    t = next(r for r in rows if r["role"] == "teacher" and r["tower"] == "image" and r["threads"] == 1)
    assert s["speedup_vs_teacher_eager"] == pytest.approx(t["median_ms"] / s["median_ms"])
    assert s["speedup_vs_teacher_same_runtime"] == s["speedup_vs_teacher_eager"]  # eager is the same runtime
    # eager only: the same-runtime goals are for the mobile runtimes (their ratio is still in the table)
    assert {g["goal"] for g in res["goals"]} == {"image, best runtime vs teacher image in PyTorch eager"}
    reasons = {s["runtime"]: s["reason"] for s in res["skipped"]}
    assert "no --export DIR" in reasons["executorch"] and "macOS" in reasons["coreml"] or "export" in reasons["coreml"]
    md = (tmp_path / "latency.md").read_text()
    assert "speed-up vs teacher eager" in md and "AMD" in md or res["machine"]["cpu"] in md


def test_latency_bad_input(capsys):
    with pytest.raises(SystemExit) as e:
        L.main(["--runtimes", "eager,tensorrt", "--teacher", ""])
    assert e.value.code == 2 and "unknown runtime(s) tensorrt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        L.main(["--threads", "0", "--teacher", ""])
    assert "bad --threads" in capsys.readouterr().err


@pytest.mark.slow
def test_latency_torch_compile(tmp_path):
    res = L.main(["--students", "tiny-lsra-light", "--teacher", "", "--runtimes", "eager,compile", "--threads", "1",
                  "--repeats", "3", "--no-progress", "--json", str(tmp_path / "l.json")])
    runtimes = {r["runtime"] for r in res["results"]} | {s["runtime"] for s in res["skipped"]}
    assert runtimes == {"eager", "compile"}  # compile either measured or skipped with its reason


def test_accuracy_tiny(tiny_ckpt, tiny_teacher_dir, synth, tmp_path):
    res = A.main([str(tiny_ckpt), "--teacher", str(tiny_teacher_dir), "--zeroshot", str(synth / "classes" / "test"),
                  "--retrieval", str(synth / "captions_test.csv"), "--templates", "single", "--no-progress",
                  "--out", str(tmp_path)])
    teacher, student = res["results"][:2]
    assert teacher["kind"] == "teacher" and student["kind"] == "student"
    assert teacher["zeroshot"]["n"] == student["zeroshot"]["n"] == 24  # same images for everyone
    assert 0 <= student["zeroshot"]["top1"] <= 1 and student["retrieval"]["n_images"] == 24
    assert 0 <= student["agreement"]["top1_agreement"] <= 1 and student["agreement"]["space"]["image"] == "direct"
    md = (tmp_path / "accuracy.md").read_text()
    assert f"Teacher: **{teacher['model']}**" in md and "zero-shot top-1 %" in md


def test_accuracy_errors(tiny_ckpt, tiny_teacher_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        A.main([str(tiny_ckpt), "--teacher", str(tiny_teacher_dir), "--zeroshot", str(tmp_path / "missing"),
                "--no-retrieval"])  # without it the default Flickr8k retrieval set needs ../shared/data first
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        A.main([str(tmp_path / "x.pt"), "--teacher", str(tiny_teacher_dir), "--zeroshot", str(tmp_path)])
    assert "benchmarks.accuracy: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        A.main([str(tiny_ckpt), "--teacher", str(tiny_teacher_dir), "--zeroshot", str(tmp_path),
                "--no-retrieval", "--export", str(tmp_path / "no-export")])
    assert "no export manifest" in capsys.readouterr().err


def test_latency_goals_directions():
    """Speed-ups must reach their target, time ratios must stay under theirs; same-runtime goals compare fp32
    with the teacher's fp32 in the mobile runtimes."""
    def row(tower, runtime, precision, ms, same=None):
        return {"model": "s", "role": "student", "tower": tower, "runtime": runtime, "precision": precision,
                "threads": 1, "median_ms": ms, "speedup_vs_teacher_eager": 100.0 / ms,
                "speedup_vs_teacher_same_runtime": same, "same_runtime_teacher_precision": "fp32" if same else None}

    rows = [row("image", "eager", "fp32", 10.0, 10.0), row("text", "eager", "fp32", 10.0, 8.0),
            row("text", "executorch", "fp32", 5.0, 11.0), row("text", "executorch", "int8", 3.9, 14.0),
            row("text", "litert", "fp32", 4.5, 13.0), row("text", "litert", "int8", 2.5, 23.0),
            row("image", "executorch", "fp32", 6.0, 15.0), row("image", "executorch", "int8", 6.9, 13.0)]
    goals = {(g["goal"], g["runtime"]): g for g in L.goals_for("s", 1, rows)}
    same = goals["text, same runtime as the teacher", "executorch fp32"]
    assert same["met"] and same["target"] == 10.0 and not same["at_most"]
    assert ("text, same runtime as the teacher", "eager fp32") not in goals  # exported runtimes present
    assert not goals["text, same runtime as the teacher", "litert fp32"]["at_most"]
    et_fp32 = goals["text, ExecuTorch time / LiteRT time", "executorch fp32"]
    assert et_fp32["value"] == pytest.approx(5.0 / 4.5) and et_fp32["met"] and et_fp32["target_text"] == "<= 1.3x"
    assert not goals["text, ExecuTorch time / LiteRT time", "executorch int8"]["met"]  # 1.56x
    assert not goals["image, int8 time / fp32 time", "executorch int8"]["met"]  # 1.15x slower
    assert goals["text, int8 time / fp32 time", "litert int8"]["met"]
    assert not L.goals_for("s", 1, [row("text", "executorch", "fp32", 5.0, 9.0)])[0]["met"]  # 9x < 10x
    assert [g["goal"] for g in L.goals_for("s", 1, rows[:2])] == [
        "image, best runtime vs teacher image in PyTorch eager"]  # eager only: no same-runtime goal
