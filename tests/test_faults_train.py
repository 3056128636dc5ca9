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
