"""Trainer: phases, balancer, resume, corrupt images, NaN guard, hf-clip proxy teacher, DDP, --help."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mobileclip  # noqa: F401
from mobileclip import load_checkpoint, load_teacher, read_checkpoint
from mobileclip.training.loop import ALL_TERMS, Schedule, TrainConfig, build_parser, lr_lambda, parse_args, train
from tests.support.data import REPO, make_csv
from tests.support.training import base_cfg, read_log



@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory) -> Path:
    return make_csv(tmp_path_factory.mktemp("toy"), 12)


def test_cli_parses_into_the_config_python_builds(tmp_path):
    argv = ["--train-data", "d.csv", "--model", "tiny-lsra-light", "--batch-size", "4", "--out", str(tmp_path),
            "--quiet", "--log-every", "1", "--lr", "3e-3", "--balancer-lr", "0.1", "--workers", "0", "--threads", "1",
            "--no-kd", "--crop-scale", "0.5", "1.0", "--steps", "7"]
    assert parse_args(argv) == base_cfg("d.csv", tmp_path, None, crop_scale=(0.5, 1.0), steps=7)
    assert parse_args(["--train-data", "d.csv"]) == TrainConfig(train_data="d.csv")  # same defaults
    assert parse_args(base_cfg("d.csv", tmp_path, "t", steps=3).to_argv()) == base_cfg("d.csv", tmp_path, "t", steps=3)


def test_help_documents_every_option(capsys):
    parser = build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and action.help.strip(), f"{action.option_strings} has no help"
    with pytest.raises(SystemExit) as e:
        parse_args(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--teacher-cache", "--no-kd", "--align-steps", "--resume", "--arch", "--hf-config", "--balancer"):
        assert opt in out


def test_schedule_boundaries_and_lr():
    s = Schedule(100, kd=True, align_steps=10, distil_steps=30)
    assert [s.phase_at(i) for i in (0, 9, 10, 39, 40, 99)] == ["align", "align", "distil", "distil", "joint", "joint"]
    assert s.terms("align") == ["fd_image", "fd_text"] and "contrastive" not in s.terms("distil")
    assert "contrastive" in s.terms("joint") and "rd_i2t" in s.terms("joint")
    assert Schedule(10, kd=False).phases == [("contrastive", 10)]
    assert Schedule(100, kd=True).phases == [("align", 10), ("distil", 30), ("joint", 60)]
    f = lr_lambda(10, 100, 0.0)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(100) == pytest.approx(0.0)
    assert f(55) == pytest.approx(0.5)


def test_kd_phases_switch_and_balancer_acts(toy_csv, tiny_teacher_dir, tmp_path):
    out = tmp_path / "kd"
    res = train(base_cfg(toy_csv, out, tiny_teacher_dir, steps=6, align_steps=2, distil_steps=2))
    rows = read_log(out)
    assert [r["phase"] for r in rows] == ["align"] * 2 + ["distil"] * 2 + ["joint"] * 2
    for r in rows:  # terms logged exactly where their phase makes them active
        active = set(Schedule(6, True, 2, 2).terms(r["phase"]))
        assert {t for t in ALL_TERMS if r[t] != ""} == active
    assert float(rows[0]["fd_image"]) > 0 and float(rows[-1]["contrastive"]) > 0
    w0, w1 = float(rows[0]["w_fd_image"]), float(rows[-1]["w_fd_image"])
    assert abs(w1 - w0) > 1e-3, "uncertainty weights must move during training"
    assert res["balancer_weights"]["contrastive"] != res["balancer_weights"]["fd_image"]
    # checkpoint: student + KD heads (tiny teacher and student are both 32-D -> no heads) + train state
    payload = read_checkpoint(out / "final.pt")
    assert payload["extra"]["kd"] is True and payload["extra"]["kd_heads"] is None
    model = load_checkpoint(out / "final.pt")
    assert model.config["name"] == "tiny-lsra-light"


def test_kd_heads_saved_when_dims_differ(toy_csv, tiny_teacher_dir, tmp_path):
    out = tmp_path / "heads"
    train(base_cfg(toy_csv, out, tiny_teacher_dir, steps=2, model_overrides='{"embed_dim": 16}'))
    heads = read_checkpoint(out / "final.pt")["extra"]["kd_heads"]
    assert heads["image"]["weight"].shape == (32, 16) and heads["text"]["weight"].shape == (32, 16)
    from mobileclip.evaluation.metrics import kd_heads_from_checkpoint

    rebuilt = kd_heads_from_checkpoint(read_checkpoint(out / "final.pt"))
    assert torch.equal(rebuilt["image"].weight, heads["image"]["weight"])


def _state(out: Path):
    p = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    return p["state_dict"], p["extra"]["train_state"]


@pytest.mark.parametrize("accum_freq", [1, 2])
def test_resume_is_exact(toy_csv, tiny_teacher_dir, tmp_path, accum_freq):
    common = dict(steps=7, align_steps=2, distil_steps=2, crop_scale=(0.5, 1.0), accum_freq=accum_freq)
    a, b = tmp_path / "a", tmp_path / "b"
    train(base_cfg(toy_csv, a, tiny_teacher_dir, **common))
    res = train(base_cfg(toy_csv, b, tiny_teacher_dir, **common, stop_after=4))  # "killed" mid-epoch 2
    assert res["step"] == 4 and not res["finished"]
    train(base_cfg(toy_csv, b, tiny_teacher_dir, **common))  # --resume auto
    sa, ta = _state(a)
    sb, tb = _state(b)
    assert ta["step"] == tb["step"] == 7 and ta["epoch"] == tb["epoch"]
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert torch.equal(ta["balancer"]["log_vars"], tb["balancer"]["log_vars"])
    for ka, kb in zip(ta["optimizer"]["state"].values(), tb["optimizer"]["state"].values()):
        assert torch.equal(ka["exp_avg"], kb["exp_avg"])
    assert ta["scheduler"]["last_epoch"] == tb["scheduler"]["last_epoch"]
    la, lb = read_log(a), read_log(b)
    assert [r["total"] for r in la] == [r["total"] for r in lb]


def test_corrupt_and_missing_images_are_skipped(tmp_path, capsys):
    csv_path = make_csv(tmp_path / "data", 9, corrupt=2, missing=1)  # 12 rows, batch 4: one epoch = 3 steps
    out = tmp_path / "run"
    res = train(base_cfg(csv_path, out, None, steps=3))
    assert res["finished"] and res["skipped_images"] == 3
    text = capsys.readouterr().out
    assert "CaptionCsv: 3 skipped" in text and "skipped 3 unreadable" in text


def test_nonfinite_steps_are_skipped_then_abort(toy_csv, tmp_path, monkeypatch):
    from mobileclip.training import losses
    from mobileclip.utils.errors import MobileClipError

    real = losses.ClipLoss.forward
    calls = {"n": 0}

    def flaky(self, *a):
        calls["n"] += 1
        out = real(self, *a)
        return {"contrastive": out["contrastive"] * float("nan")} if calls["n"] in (2, 3) else out

    monkeypatch.setattr(losses.ClipLoss, "forward", flaky)
    res = train(base_cfg(toy_csv, tmp_path / "nan", None, steps=3))
    assert res["nonfinite_steps"] == 2 and res["step"] == 3
    for p in res["module"].parameters():
        assert torch.isfinite(p).all()
    calls["n"] = 0
    with pytest.raises(MobileClipError, match="non-finite"):
        train(base_cfg(toy_csv, tmp_path / "nan2", None, steps=3, max_nonfinite=2))


def test_an_epoch_of_skipped_steps_is_not_an_empty_epoch(toy_csv, tmp_path, monkeypatch):
    """Every step of the first epoch skipped (a non-finite loss here; an fp16 GradScaler overflow on CUDA does
    the same): the run goes on to the next epoch instead of calling the data empty."""
    from mobileclip.training import losses

    real = losses.ClipLoss.forward
    calls = {"n": 0}
    per_epoch = (len(open(toy_csv).readlines()) - 1) // 4  # one caption per row, batch 4

    def nan_first_epoch(self, *a):
        calls["n"] += 1
        out = real(self, *a)
        return {"contrastive": out["contrastive"] * float("nan")} if calls["n"] <= per_epoch else out

    monkeypatch.setattr(losses.ClipLoss, "forward", nan_first_epoch)
    res = train(base_cfg(toy_csv, tmp_path / "skip", None, steps=2, max_nonfinite=10))
    assert res["nonfinite_steps"] == per_epoch and res["step"] == 2


def test_hf_clip_proxy_teacher_roundtrip(toy_csv, tmp_path):
    out = tmp_path / "teacher"
    res = train(TrainConfig(arch="hf-clip", hf_config="tiny", no_kd=True, train_data=str(toy_csv), steps=2,
                            batch_size=4, out=str(out), quiet=True, workers=0))
    assert res["finished"]
    teacher = load_teacher(str(out / "hf"))
    trained = res["module"].student.clip.state_dict()
    for k, v in teacher.clip.state_dict().items():
        assert torch.equal(v, trained[k]), k
    x = torch.randn(2, 3, 32, 32)
    assert teacher.encode_image(x).shape == (2, 32)


def test_bad_input_is_one_line_error(tmp_path, capsys):
    from mobileclip.training.loop import main

    with pytest.raises(SystemExit) as e:
        main(["--train-data", str(tmp_path / "nope.csv"), "--no-kd", "--model", "tiny-lsra-light",
              "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mobileclip.train: error:")


@pytest.mark.parametrize("flags,port,expect", [
    ([], 29533, "negatives gathered from 2 ranks\n"),
    (["--gather-with-grad", "--local-loss", "--accum-freq", "2"], 29534,
     "2 micro-batches per step, negatives gathered from 2 ranks (with grad) (local loss)")])
def test_ddp_two_processes_gloo(toy_csv, tiny_teacher_dir, tmp_path, flags, port, expect):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
           "-m", "mobileclip.train", "--train-data", str(toy_csv), "--model", "tiny-lsra-light", "--teacher",
           str(tiny_teacher_dir), "--steps", "3", "--align-steps", "1", "--distil-steps", "1", "--batch-size", "2",
           "--out", str(out), "--quiet", "--log-every", "1", "--device", "cpu", *flags]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(2 processes)" in r.stdout and expect in r.stdout, r.stdout
    rows = read_log(out)
    assert [r["phase"] for r in rows] == ["align", "distil", "joint"]
    assert load_checkpoint(out / "final.pt") is not None


def test_tar_shards_train_and_resume(tmp_path, tiny_teacher_dir):
    from mobileclip.data.shard_writer import write_tar_shards

    csv_path = make_csv(tmp_path / "data", 12)
    write_tar_shards(csv_path, tmp_path / "shards", samples_per_shard=4)
    pattern = str(tmp_path / "shards" / "shard-{000000..000002}.tar")
    common = dict(steps=5, align_steps=1, distil_steps=1)
    a, b = tmp_path / "a", tmp_path / "b"
    res = train(base_cfg(pattern, a, tiny_teacher_dir, **common))
    assert res["finished"] and [r["epoch"] for r in read_log(a)] == ["0", "0", "0", "1", "1"]
    train(base_cfg(pattern, b, tiny_teacher_dir, **common, stop_after=2))
    train(base_cfg(pattern, b, tiny_teacher_dir, **common))
    sa, _ = _state(a)
    sb, _ = _state(b)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    with pytest.raises(mobileclip.MobileClipError, match="streamed"):
        train(base_cfg(pattern, tmp_path / "c", None, steps=1, train_subset=0.5))


def test_precise_bn_recalibration():
    from torch import nn

    from mobileclip.models.batchnorm import recalibrate_bn

    class Img(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(3, momentum=0.01)

        def encode_image(self, x):
            return self.bn(x)

    m = Img()
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(8, 3, 4, 4, generator=g) * 5 + 2 for _ in range(4)]
    m.eval()
    assert torch.allclose(m.bn.running_var, torch.ones(3))  # stale: never saw data
    assert recalibrate_bn(m, iter(batches), 3, "cpu") == 3
    seen = torch.cat(batches[:3])
    means = torch.stack([b.mean((0, 2, 3)) for b in batches[:3]]).mean(0)
    assert torch.allclose(m.bn.running_mean, means, atol=1e-5)
    assert torch.allclose(m.bn.running_var, seen.var((0, 2, 3)), rtol=0.1)
    assert m.bn.momentum == 0.01 and not m.training


def test_channels_last_layout_trains_the_same_function(toy_csv, tmp_path):
    from mobileclip import load_checkpoint

    common = dict(steps=2, seed=1)
    train(base_cfg(toy_csv, tmp_path / "cl", None, **common))  # default: --channels-last on
    train(base_cfg(toy_csv, tmp_path / "nc", None, **common, channels_last="off"))
    (sa, _), (sb, _) = _state(tmp_path / "cl"), _state(tmp_path / "nc")
    conv = [k for k, v in sa.items() if v.ndim == 4]
    assert conv and all(sa[k].is_contiguous(memory_format=torch.channels_last) for k in conv)
    assert all(sb[k].is_contiguous() for k in conv)
    # the layout changes speed, not the function: same weights, both layouts, same embeddings
    model = load_checkpoint(tmp_path / "cl" / "final.pt").eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ref = model.encode_image(x)
        model.to(memory_format=torch.channels_last)
        got = model.encode_image(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_trains_on_cpu_and_fp16_needs_cuda(toy_csv, tiny_teacher_dir, tmp_path):
    res = train(base_cfg(toy_csv, tmp_path / "bf16", tiny_teacher_dir, steps=3, align_steps=1, distil_steps=1,
                         precision="amp_bf16"))
    rows = read_log(tmp_path / "bf16")
    assert res["finished"] and len(rows) == 3 and all(math.isfinite(float(r["total"])) for r in rows)
    with pytest.raises(mobileclip.MobileClipError, match="needs a CUDA device"):
        train(base_cfg(toy_csv, tmp_path / "fp16", None, steps=1, precision="amp", device="cpu"))


def test_accumulation_equals_the_larger_batch(toy_csv, tiny_teacher_dir, tmp_path):
    """accum_freq=2 x batch 4 == one step on batch 8: loss, every gradient, the update (every KD term + balancer;
    an hf-clip student: LayerNorm only, as BatchNorm normalises each micro-batch on its own)."""
    common = dict(arch="hf-clip", precision="fp32", steps=5, align_steps=0, distil_steps=0, affinity=True,
                  stop_after=1, grad_clip=0.0, bn_recalibrate=0, crop_scale=(0.5, 1.0))
    big = train(base_cfg(toy_csv, tmp_path / "big", tiny_teacher_dir, **common).replace(batch_size=8))
    acc = train(base_cfg(toy_csv, tmp_path / "acc", tiny_teacher_dir, **common, accum_freq=2))
    rb, ra = read_log(tmp_path / "big")[0], read_log(tmp_path / "acc")[0]
    for k in ["total"] + ALL_TERMS:
        assert float(ra[k]) == pytest.approx(float(rb[k]), rel=1e-4, abs=1e-6), k
    pb, pa = dict(big["module"].named_parameters()), dict(acc["module"].named_parameters())
    n_grads = 0
    for name, p in pb.items():
        if p.grad is None:
            assert pa[name].grad is None, name
            continue
        n_grads += 1
        torch.testing.assert_close(pa[name].grad, p.grad, rtol=1e-3, atol=1e-6, msg=name)
        live = p.grad.abs() > 1e-5  # Adam's first step is ~lr*sign(g): meaningless where g is rounding noise
        torch.testing.assert_close(pa[name][live], p[live], rtol=1e-4, atol=1e-6, msg=name)
    assert n_grads > 10 and pb["balancer.log_vars"].grad.abs().sum() > 0


def test_init_starts_from_the_checkpoints_weights(tmp_path):
    """``--init``: the student starts from a checkpoint's weights (it once imported load_checkpoint from the
    wrong package and failed at the first run that used it)."""
    from mobileclip import create_model, save_checkpoint
    from mobileclip.training.run import _build_student

    torch.manual_seed(1)
    src = create_model("tiny-lsra-light")
    path = save_checkpoint(src, tmp_path / "init.pt")
    student = _build_student(TrainConfig(train_data="d.csv", model="tiny-lsra-light", init=str(path)))
    for (name, a), b in zip(student.state_dict().items(), src.state_dict().values()):
        assert torch.equal(a, b), name


def test_cli_defaults_are_written_once_in_the_dataclass():
    """No ``default=`` on any training flag: the parser takes every default from the TrainConfig fields."""
    import ast
    import inspect

    from mobileclip.training import config

    calls = [n for n in ast.walk(ast.parse(inspect.getsource(config)))
             if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "add_argument"]
    assert len(calls) > 30 and [n.lineno for n in calls if any(k.arg == "default" for k in n.keywords)] == []
    parser = build_parser()
    for name, value in config.defaults().items():
        assert parser.get_default(name) == value, name
