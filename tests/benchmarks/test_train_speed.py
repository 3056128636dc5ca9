"""benchmarks.train_speed: every teacher source x precision measured by a real training run, JSON + Markdown."""
import json

import pytest

from benchmarks import train_speed


def test_train_speed_tiny(tmp_path, tiny_teacher_dir, capsys):
    res = train_speed.main(["--model", "tiny-lsra-light", "--teacher", str(tiny_teacher_dir), "--steps", "3",
                            "--batch-size", "4", "--device", "cpu", "--precisions", "fp32", "amp_bf16",
                            "--threads", "1", "--out", str(tmp_path)])
    assert [(r["precision"], r["teacher"]) for r in res["rows"]] == [
        (p, s) for p in ("fp32", "amp_bf16") for s in ("online", "cached", "none")]
    assert all(r["samples_per_s"] > 0 and r["samples_per_s"] == pytest.approx(4 / r["mean_step_time_s"])
               for r in res["rows"])
    saved = json.loads((tmp_path / "train_speed.json").read_text())
    assert saved["rows"] == res["rows"] and saved["machine"]["torch"]
    md = (tmp_path / "train_speed.md").read_text()
    assert "| amp_bf16 |" in md and "Machine:" in md


def test_train_speed_refuses_fp16_on_cpu(capsys):
    with pytest.raises(SystemExit) as e:
        train_speed.main(["--device", "cpu", "--precisions", "amp"])
    assert e.value.code != 0 and "needs a CUDA device" in capsys.readouterr().err
