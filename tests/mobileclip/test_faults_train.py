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

from tests.mobileclip.test_faults import TINY, data, one_line_error, targs  # noqa: E402,F401  (data: a fixture)
from tests.mobileclip.test_faults import finished_run as finished  # noqa: E402,F401  (a fixture: 2 steps, last.pt + final.pt)
from tests.support.data import make_csv  # noqa: E402

from mobileclip import train as T  # noqa: E402


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


@pytest.mark.parametrize("steps", ["2", "1"])
def test_finished_run_again_says_it_is_finished(finished, data, tmp_path, capsys, steps):
    out = _copy(finished, tmp_path / "run")
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    T.main(_argv(data, out, "--steps", steps))
    text = capsys.readouterr().out
    assert "holds a finished run (step 2)" in text and "nan" not in text and "step 3/" not in text
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files  # final.pt not rewritten


# ----------------------------------------------------------------- one line, before any folder or work (item 5)
@pytest.mark.parametrize("extra,expect", [
    (["--image-size", "-5"], "--image-size must be >= 16"),
    (["--image-size", "0"], "--image-size must be >= 16"),
    (["--device", "gpu0"], "--device 'gpu0': not a device name"),
    (["--device", "cuda"], "--device cuda: "),
    (["--model-overrides", '{"text_cfg": {"layerz": 4}}'], "unknown key 'text_cfg.layerz'"),
    (["--model-overrides", '{"text_cfg": {"layers": 4}}'], "cannot be built with them (kernel_sizes has 2 entries"),
    (["--zeroshot", "NOPE"], "--zeroshot"),
    (["--batch-size", "100000"], "12 training samples < --batch-size 100000"),
])
def test_bad_options_are_one_line_and_leave_no_folder(data, tmp_path, capsys, extra, expect):
    if extra == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    extra = [str(tmp_path / x) if x == "NOPE" else x for x in extra]
    err = _fails(capsys, _argv(data, tmp_path / "run", "--steps", "2", *extra))
    assert expect in err
    assert not (tmp_path / "run").exists()


def test_help_example_of_model_overrides_runs(data, tmp_path):
    import json
    import re

    from mobileclip.training.config import build_parser

    action = next(a for a in build_parser()._actions if "--model-overrides" in a.option_strings)
    example = re.search(r"e\.g\. '(.+)'", action.help).group(1)
    assert json.loads(example)
    T.main(_argv(data, tmp_path / "run", "--steps", "1", "--model-overrides", example))
    assert load_checkpoint(tmp_path / "run" / "final.pt").config["text_cfg"]["layers"] == 4


@pytest.mark.parametrize("module", ["mobileclip.train", "mobileclip.eval", "export.executorch", "mobileclip.demo_train"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_threads_below_one_refused_by_every_cli(module, value, capsys):
    import importlib

    mod = importlib.import_module(module)
    argv = {"mobileclip.train": ["--train-data", "x.csv"], "mobileclip.eval": ["x.pt"],
            "export.executorch": ["x.pt", "--out", "e"], "mobileclip.demo_train": []}[module]
    with pytest.raises(SystemExit) as e:
        mod.main(argv + ["--threads", value])
    assert e.value.code == 2 and "argument --threads: must be >= 1" in capsys.readouterr().err


def test_threads_above_the_cores_are_lowered_with_a_warning(capsys):
    from mobileclip.utils.cli import cpu_cores, set_threads
    from mobileclip.training.config import parse_args

    cores = cpu_cores()
    assert parse_args(["--train-data", "x.csv", "--threads", str(cores + 997)]).threads == cores
    assert f"--threads {cores + 997} > the {cores} CPU core(s)" in capsys.readouterr().err
    before = torch.get_num_threads()
    try:
        set_threads(999)  # the Python API too
        assert torch.get_num_threads() == cores
    finally:
        torch.set_num_threads(before)


def test_short_csv_rows_are_counted(tmp_path, caplog):
    from mobileclip.data.datasets import read_caption_csv

    csv_path = make_csv(tmp_path / "d", 3)
    with open(csv_path, "a") as f:
        f.write("only_an_image.png\n\n,no image\n")
    assert len(read_caption_csv(csv_path)) == 3
    assert "2 row(s) without an image path or a caption column skipped (line 5, 7)" in caplog.text


# -------------------------------------------------------------------------------- disk full and Ctrl-C (item 5)
def _failing_save(monkeypatch, exc, on_call: int):
    """torch.save whose ``on_call``-th call meets ``exc`` in the middle of writing (as a full disk or Ctrl-C would)."""
    real, calls = torch.save, []

    class Failing:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            self.n += 1
            if self.n == 3:
                raise exc
            return self.f.write(b)

        def flush(self):
            return self.f.flush()

    def save(obj, f, *a, **k):
        calls.append(1)
        return real(obj, Failing(f) if len(calls) == on_call else f, *a, **k)
    monkeypatch.setattr(torch, "save", save)


def _no_temps(out: Path) -> bool:
    return not [p for p in out.iterdir() if p.name.startswith(".last.pt.")]


@pytest.mark.parametrize("exc,code,expect", [
    (OSError(28, "No space left on device"), 2, "No space left on device (disk full); last.pt is as it was"),
    (KeyboardInterrupt(), 130, "interrupted at step 2; "),
])
def test_disk_full_or_ctrl_c_while_saving(data, tmp_path, capsys, monkeypatch, exc, code, expect):
    import errno

    out = tmp_path / "run"
    _failing_save(monkeypatch, exc, on_call=2)  # the save at step 1 is written, the one at step 2 fails
    with pytest.raises(SystemExit) as e:
        T.main(_argv(data, out, "--steps", "4", "--save-every", "1"))
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == code and expect in err[-1] and "Traceback" not in "\n".join(err), err[-3:]
    assert err[-1].startswith("mobileclip.train: ")
    if code == 130:
        assert f"{out / 'last.pt'} holds step 1" in err[-1]
    monkeypatch.undo()
    assert torch.load(out / "last.pt", weights_only=True)["extra"]["train_state"]["step"] == 1  # intact
    assert _no_temps(out) and errno.ENOSPC == 28


def test_ctrl_c_during_a_write_finishes_it_then_stops(tmp_path):
    import os
    import signal

    from mobileclip.utils.fileio import atomic_write, deferred_interrupt

    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt("x"):
            os.kill(os.getpid(), signal.SIGINT)
            atomic_write(tmp_path / "a.txt", "complete")  # still written
    assert (tmp_path / "a.txt").read_text() == "complete"
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
        with deferred_interrupt("x"):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            (tmp_path / "b.txt").write_text("not reached")
    assert not (tmp_path / "b.txt").exists()
    held = []  # inside a caller's own hold (an export's commit) the caller's handler gets the Ctrl-C
    previous = signal.signal(signal.SIGINT, lambda *_: held.append(1))
    try:
        with deferred_interrupt("x"):
            os.kill(os.getpid(), signal.SIGINT)
            atomic_write(tmp_path / "c.txt", "complete")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert held == [1] and (tmp_path / "c.txt").read_text() == "complete"


def test_ctrl_c_during_training_is_one_line(data, tmp_path):
    import signal
    import subprocess
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mobileclip.train", *_argv(data, out, "--steps", "100000", "--save-every", "2")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.time() + 240
        while not (out / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (out / "last.pt").exists(), proc.poll()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    lines = err.strip().splitlines()
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert lines[-1].startswith("mobileclip.train: interrupted at step ") and "resumes from it" in lines[-1]
    assert torch.load(out / "last.pt", weights_only=True)["extra"]["train_state"]["step"] >= 2
