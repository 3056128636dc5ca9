"""Fault injection on the training paths (issue 22): fine-tuning with --init, resume that checks what it resumes,
and one line (before any folder or work) for every bad option, disk full and Ctrl-C."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from test_faults import TINY, one_line_error, targs  # noqa: E402
from test_train import make_csv  # noqa: E402

from mobileclip import train as T  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_csv(tmp_path_factory.mktemp("ft") / "data", 12)


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """A finished 3-step run (last.pt with training state, final.pt weights only)."""
    out = tmp_path_factory.mktemp("run") / "run"
    T.train(targs(data, out, "--steps", "3"))
    return out


def _argv(data, out, *extra):
    return ["--train-data", str(data), "--out", str(out), "--batch-size", "4", *TINY, *extra]


def _fails(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        T.main(argv)
    assert e.value.code == 2
    return one_line_error(capsys, "mobileclip.train")


def _weights(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ----------------------------------------------------------------------------------------- --init (item 4)
def test_init_starts_from_the_checkpoints_weights(finished, data, tmp_path, capsys):
    from mobileclip.training.run import setup

    ckpt = load_checkpoint(finished / "final.pt").state_dict()
    run = setup(targs(data, tmp_path / "ft0", "--init", str(finished / "final.pt"), "--steps", "2"))
    start = run.student.state_dict()
    assert start.keys() == ckpt.keys() and all(torch.equal(start[k], ckpt[k]) for k in ckpt)  # step 0 = checkpoint
    fresh = setup(targs(data, tmp_path / "ft1", "--steps", "2")).student.state_dict()
    assert not all(torch.equal(fresh[k], ckpt[k]) for k in ckpt)  # (a fresh model is not the checkpoint)
    out = tmp_path / "ft"
    T.main(_argv(data, out, "--init", str(finished / "final.pt"), "--steps", "2"))  # the CLI path runs too
    tuned = load_checkpoint(out / "final.pt").state_dict()
    assert any(not torch.equal(tuned[k], ckpt[k]) for k in ckpt)  # the steps changed the weights


def test_resume_message_for_final_pt_gives_an_init_command_that_works(finished, data, tmp_path, capsys):
    out = tmp_path / "again"
    err = _fails(capsys, _argv(data, out, "--steps", "4", "--resume", str(finished / "final.pt")))
    assert f"--init {finished / 'final.pt'}" in err
    T.main(_argv(data, out, "--steps", "4", "--init", str(finished / "final.pt")))
    assert (out / "final.pt").is_file()


@pytest.mark.parametrize("extra,expect", [
    (["--init", "NOPE"], "checkpoint not found"),
    (["--init", "RANDOM"], "not a readable checkpoint"),
    (["--init", "FINAL", "--model", "mnv3l-lsra-256"], "holds a 'tiny-lsra-light' model, not --model mnv3l-lsra-256"),
    (["--init", "FINAL", "--model-overrides", '{"embed_dim": 16}'], "weights do not fit"),
    (["--init", "FINAL", "--arch", "hf-clip"], "--init starts a student"),
])
def test_init_refusals_are_one_line_and_leave_no_folder(finished, data, tmp_path, capsys, extra, expect):
    (tmp_path / "RANDOM").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    paths = {"NOPE": tmp_path / "nope.pt", "RANDOM": tmp_path / "RANDOM", "FINAL": finished / "final.pt"}
    extra = [str(paths.get(x, x)) for x in extra]
    err = _fails(capsys, _argv(data, tmp_path / "run", "--steps", "2", *extra))
    assert expect in err and "weights_only" not in err
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- resume checks settings (item 4)
def _copy(finished: Path, dst: Path) -> Path:
    shutil.copytree(finished, dst)
    return dst


@pytest.mark.parametrize("flag,value", [
    ("--image-size", "64"), ("--batch-size", "6"), ("--lr", "0.01"), ("--seed", "1"), ("--warmup", "2"),
    ("--model-overrides", '{"init_logit_scale": 1.0}'), ("--train-data", "OTHER"), ("--no-kd", None),
])
def test_resume_refuses_a_changed_setting(finished, data, tmp_path, capsys, tiny_teacher_dir, flag, value):
    out = _copy(finished, tmp_path / "run")
    before = (out / "last.pt").read_bytes()
    argv = _argv(data, out, "--steps", "5")
    if flag == "--train-data":
        argv[1] = str(make_csv(tmp_path / "other", 12))
    elif flag == "--no-kd":  # TINY's --no-kd dropped: a KD run from the tiny teacher would be another run
        argv = [a for a in argv if a != "--no-kd"] + ["--teacher", str(tiny_teacher_dir)]
    else:
        argv += [flag, value]
    err = _fails(capsys, argv)
    assert f"written with {flag}" in err or (flag == "--no-kd" and "non-KD" in err), err
    assert (out / "last.pt").read_bytes() == before


def test_resume_allows_more_steps_and_other_logging(finished, data, tmp_path, capsys):
    out = _copy(finished, tmp_path / "run")
    T.main(_argv(data, out, "--steps", "5", "--save-every", "1", "--log-every", "2", "--workers", "0"))
    assert "resumed from" in capsys.readouterr().out
    assert torch.load(out / "last.pt", weights_only=True)["extra"]["train_state"]["step"] == 5


def test_resume_lowering_steps_of_an_unfinished_run_is_refused(data, tmp_path, capsys):
    out = tmp_path / "run"
    T.main(_argv(data, out, "--steps", "6", "--stop-after", "2"))
    assert "written with --steps 6" in _fails(capsys, _argv(data, out, "--steps", "4"))


def test_resume_refuses_an_unknown_format_version(finished, data, tmp_path, capsys):
    out = _copy(finished, tmp_path / "run")
    payload = torch.load(out / "last.pt", weights_only=True)
    payload["format_version"] = 999
    torch.save(payload, out / "last.pt")
    assert "format version 999" in _fails(capsys, _argv(data, out, "--steps", "5"))


@pytest.mark.parametrize("steps", ["3", "2"])
def test_finished_run_again_says_it_is_finished(finished, data, tmp_path, capsys, steps):
    out = _copy(finished, tmp_path / "run")
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    T.main(_argv(data, out, "--steps", steps))
    text = capsys.readouterr().out
    assert "holds a finished run (step 3)" in text and "nan" not in text and "step 4/" not in text
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files  # final.pt not rewritten
