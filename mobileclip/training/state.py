"""Checkpoint state of a run: save (``last.pt`` / ``final.pt`` or the HF proxy's format) and restore, with the
RNG states that make a resumed run continue exactly like an uninterrupted one."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from ..models.checkpoint import save_checkpoint
from ..utils.errors import TrainError
from ..utils.fileio import atomic_torch_save
from .resume import check_resume_settings, read_resume_payload
from .hf_proxy import HF_TRAIN_FORMAT, hf_config_dict
from .run import Run


# ---------------------------------------------------------------------------------------------- restore
def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2],
          "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)), "numpy_pos": int(np.random.get_state()[2])}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict):
    torch.set_rng_state(st["torch"])
    random.setstate((3, tuple(st["python"]), st["python_pos"]))
    np.random.set_state(("MT19937", st["numpy"].numpy().astype(np.uint32), st["numpy_pos"], 0, 0.0))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _resume_path(run: Run) -> Path | None:
    resume = run.cfg.resume
    if resume in ("none", "", None):
        return None
    path = run.out / "last.pt" if resume == "auto" else Path(resume)
    if resume != "auto" and not path.is_file():
        raise TrainError(f"--resume {path}: no such checkpoint")
    return path if path.is_file() else None


def _check_settings(run: Run, path: Path, ts: dict):
    """What ``last.pt`` was trained with against this run's settings (one line naming a changed option)."""
    saved = ts.get("args")
    check_resume_settings(path, saved, run.cfg.as_record())
    old_steps = saved.get("steps") if isinstance(saved, dict) else None
    if isinstance(old_steps, int) and run.cfg.steps < old_steps and ts["step"] < run.cfg.steps:
        raise TrainError(f"--resume {path}: written with --steps {old_steps}, this run has --steps {run.cfg.steps}; "
                         f"lowering --steps of an unfinished run changes its schedule: keep --steps >= {old_steps}")


def restore(run: Run):
    """Continue from ``OUT/last.pt`` (or ``--resume PATH``) when there is one; then wrap the module in DDP."""
    path = _resume_path(run)
    if path is not None:
        m, weights = run.module, (run.student.clip if run.cfg.arch == "hf-clip" else run.student)
        payload = read_resume_payload(path, weights.state_dict(), m.heads.state_dict() if m.heads is not None else None,
                                      m.balancer.state_dict(), run.optimizer, HF_TRAIN_FORMAT)  # one line if damaged
        ts = payload["train_state"] if payload.get("format") == HF_TRAIN_FORMAT else payload["extra"]["train_state"]
        _check_settings(run, path, ts)
        weights.load_state_dict(payload["state_dict"])
        if ts.get("heads") is not None:
            run.module.heads.load_state_dict(ts["heads"])
        run.module.balancer.load_state_dict(ts["balancer"])
        run.optimizer.load_state_dict(ts["optimizer"])
        run.scheduler.load_state_dict(ts["scheduler"])
        if ts.get("scaler"):
            run.scaler.load_state_dict(ts["scaler"])
        run.step, run.epoch, run.batch_in_epoch = ts["step"], ts["epoch"], ts["batch_in_epoch"]
        run.skipped_images, run.nonfinite = ts["skipped_images"], ts["nonfinite_steps"]
        run.saved_step = run.step
        _set_rng_state(ts["rng"][run.rank] if run.rank < len(ts["rng"]) else ts["rng"][0])
        if run.is_main:
            print(f"resumed from {path} at step {run.step} (phase {run.schedule.phase_at(run.step)}, "
                  f"epoch {run.epoch})", flush=True)
    run.ddp = run.module
    if run.distributed:
        run.ddp = torch.nn.parallel.DistributedDataParallel(
            run.module, device_ids=[run.device.index] if run.device.type == "cuda" else None,
            find_unused_parameters=True)


# ------------------------------------------------------------------------------------------------- save
def train_state(run: Run) -> dict:
    """Everything a resume needs (collective in DDP: every rank calls it)."""
    rngs = [None] * run.world
    st = _rng_state()
    if run.distributed:
        torch.distributed.all_gather_object(rngs, st)
    else:
        rngs = [st]
    m = run.module
    return {"step": run.step, "epoch": run.epoch, "batch_in_epoch": run.batch_in_epoch,
            "phase": run.schedule.phase_at(run.step), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict() if run.use_amp else None,
            "balancer": m.balancer.state_dict(), "heads": m.heads.state_dict() if m.heads is not None else None,
            "skipped_images": run.skipped_images, "nonfinite_steps": run.nonfinite, "rng": rngs,
            "args": run.cfg.as_record()}


def save(run: Run, path: Path, final: bool = False, weights_only: bool = False):
    ts = train_state(run)  # collective in DDP: every rank calls it
    if not run.is_main:
        return
    student = run.student
    if run.cfg.arch == "hf-clip":
        atomic_torch_save({"format": HF_TRAIN_FORMAT, "hf_config": hf_config_dict(student.clip.config),
                           "state_dict": {k: v.detach().cpu() for k, v in student.clip.state_dict().items()},
                           "train_state": ts}, path)
        run.saved_step = ts["step"] if path.name == "last.pt" else run.saved_step
        if final:
            student.clip.save_pretrained(run.out / "hf")
        return
    heads = run.module.heads
    teacher = (run.teacher.label if run.teacher is not None else
               run.cache.meta.get("teacher") if run.cache is not None else None)
    extra = {"kd_heads": heads.checkpoint_state() if heads is not None else None,
             "train_state": ts if not weights_only else {"step": ts["step"], "args": ts["args"]},
             "teacher": teacher, "kd": run.kd}
    save_checkpoint(student, path, extra=extra)
    if path.name == "last.pt":
        run.saved_step = ts["step"]
