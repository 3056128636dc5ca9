import pytest

from mobileclip import demo


def test_demo_runs_on_tiny_models(tiny_teacher_dir, tmp_path, capsys):
    demo.main(["--models", "tiny-lsra-light,tiny-lsra-dyn", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "identical outputs = True" in out
    assert "student: tiny-lsra-light" in out and "reduction" in out


def test_demo_bad_teacher_exits_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(["--models", "tiny-lsra-light", "--teacher", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mobileclip.demo: error: cannot load CLIP teacher")


def test_demo_unknown_model(tiny_teacher_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        demo.main(["--models", "nope", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path)])
    assert e.value.code == 2 and "unknown model config 'nope'" in capsys.readouterr().err
