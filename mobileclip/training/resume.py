"""Reading a run's ``last.pt`` for ``--resume``: every problem is one line naming the file and what is wrong."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..models.checkpoint import check_format_version, describe_load_error
from ..utils.errors import CheckpointError

# settings a resumed run may change: how long it runs, where and how fast, what it logs; any other one changes
# what is trained (data, model, loss, optimiser, schedule, seed) and is refused
RESUMABLE_CHANGES = frozenset({"steps", "stop_after", "save_every", "log_every", "quiet", "tensorboard", "zeroshot",
                               "bn_recalibrate", "out", "resume", "threads", "workers", "device", "precision",
                               "channels_last", "max_nonfinite", "init", "teacher_cache"})

TRAIN_STATE_KEYS = ("step", "epoch", "batch_in_epoch", "optimizer", "scheduler", "balancer", "skipped_images",
                    "nonfinite_steps", "rng")


def _check_state(path, what: str, got, expected: dict) -> None:
    """``got`` must be a state dict with exactly ``expected``'s keys and tensor shapes."""
    if not isinstance(got, dict):
        raise CheckpointError(f"--resume {path}: {what} is not a state dict")
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        parts = ([f"missing {len(missing)} (e.g. {missing[0]})"] if missing else []) + \
                ([f"unexpected {len(extra)} (e.g. {extra[0]})"] if extra else [])
        raise CheckpointError(f"--resume {path}: {what} does not match this run's model ({', '.join(parts)}); "
                              f"was it written with another --model/--arch/--model-overrides?")
    for k, v in expected.items():
        g = got[k]
        if isinstance(v, torch.Tensor) and (not isinstance(g, torch.Tensor) or g.shape != v.shape):
            shape = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
            raise CheckpointError(f"--resume {path}: {what} {k} has shape {shape}, this run's model has "
                                  f"{tuple(v.shape)}; was it written with another --model/--image-size?")


def read_resume_payload(path: str | os.PathLike, model_state: dict, heads_state: dict | None,
                        balancer_state: dict, optimizer, train_format: str) -> dict:
    """Load ``path`` (weights_only) and check everything resuming reads; returns the payload.

    ``model_state``/``heads_state``/``balancer_state``: this run's state dicts (keys and shapes to match);
    ``optimizer``: this run's optimizer (its parameter-group sizes must match the saved ones)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"--resume {path}: no such checkpoint") from None
    except Exception as e:
        raise CheckpointError(f"--resume {path}: not a readable checkpoint (damaged or truncated file? "
                              f"{describe_load_error(e)})") from None
    if not isinstance(payload, dict) or payload.get("format") not in ("mobileclip-kd", train_format):
        raise CheckpointError(f"--resume {path}: not a mobileclip-kd training checkpoint")
    check_format_version(payload, f"--resume {path}")
    extra = payload.get("extra")
    ts = payload.get("train_state") if payload.get("format") == train_format else \
        (extra.get("train_state") if isinstance(extra, dict) else None)
    if not isinstance(ts, dict) or not ts:
        raise CheckpointError(f"--resume {path}: holds no training state to resume from")
    if set(ts) <= {"step", "args"}:
        raise CheckpointError(f"--resume {path}: a weights-only checkpoint (no optimizer state, e.g. final.pt); "
                              f"resume from last.pt, or start a new run from these weights with --init {path}")
    missing = [k for k in TRAIN_STATE_KEYS if k not in ts]
    if missing:
        raise CheckpointError(f"--resume {path}: training state lacks {', '.join(missing)}")
    _check_state(path, "model weights", payload.get("state_dict"), model_state)
    if heads_state is not None or ts.get("heads") is not None:
        if heads_state is None or ts.get("heads") is None:
            raise CheckpointError(f"--resume {path}: written by a {'KD' if ts.get('heads') is not None else 'non-KD'}"
                                  f" run; this run is {'KD' if heads_state is not None else '--no-kd'}")
        _check_state(path, "KD heads", ts["heads"], heads_state)
    _check_state(path, "loss balancer", ts["balancer"], balancer_state)
    opt = ts["optimizer"]
    groups = opt.get("param_groups") if isinstance(opt, dict) else None
    if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != \
            [len(g["params"]) for g in optimizer.param_groups]:
        raise CheckpointError(f"--resume {path}: optimizer state does not match this run's parameters")
    for key in ("step", "epoch", "batch_in_epoch", "skipped_images", "nonfinite_steps"):
        if not isinstance(ts[key], int) or ts[key] < 0:
            raise CheckpointError(f"--resume {path}: training state {key} is not a count ({type(ts[key]).__name__})")
    if not isinstance(ts["rng"], list) or not ts["rng"] or not all(isinstance(r, dict) for r in ts["rng"]):
        raise CheckpointError(f"--resume {path}: training state has no random-number-generator state")
    return payload


def _shown(value) -> str:
    return "(not set)" if value is None else " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def check_resume_settings(path, saved, now: dict) -> None:
    """The settings ``last.pt`` was written with (``train_state["args"]``) against this run's: a change that alters
    what is trained is one line naming the option; ``--steps`` may only grow (see :data:`RESUMABLE_CHANGES`)."""
    if not isinstance(saved, dict):
        return  # written before settings were recorded
    for key, value in now.items():
        if key in RESUMABLE_CHANGES or key not in saved:
            continue
        old = saved[key]
        if (list(old) if isinstance(old, tuple) else old) != (list(value) if isinstance(value, tuple) else value):
            flag = "--" + key.replace("_", "-")
            raise CheckpointError(f"--resume {path}: written with {flag} {_shown(old)}, this run has {flag} "
                                  f"{_shown(value)}; resuming would change what is trained: keep {flag} "
                                  f"{_shown(old)}, or start a new run (another --out, --resume none, or --init)")
