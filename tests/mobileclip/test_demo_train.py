"""make demo stage 2 end to end at toy size (slow: trains two models)."""
import json

import pytest


@pytest.mark.slow
def test_demo_train_tiny(tmp_path, capsys):
    from mobileclip import load_checkpoint, load_teacher
    from mobileclip.demo_train import main

    res = main(["--out", str(tmp_path), "--n-train", "48", "--n-test", "24", "--teacher-steps", "2",
                "--student-steps", "3", "--batch-size", "16", "--threads", "1"])
    assert set(res) == {"teacher", "student", "agreement"}
    assert load_checkpoint(tmp_path / "student.pt").config["name"] == "mnv3l-lsra-512"
    assert load_teacher(str(tmp_path / "teacher")).embed_dim == 128
    assert json.loads((tmp_path / "train_results.json").read_text())["student"]["zeroshot_top1"] >= 0
    assert "zero-shot top-1 %" in capsys.readouterr().out
