"""The trainer tests' small runs: their config and their CSV log."""
from __future__ import annotations

import csv
from pathlib import Path

from mobileclip.training.loop import TrainConfig


def base_cfg(csv_path, out, teacher=None, **changes) -> TrainConfig:
    """The tests' small run: tiny student, batch 4, log every step; KD from ``teacher`` or ``--no-kd``."""
    kd = {"teacher": str(teacher)} if teacher else {"no_kd": True}
    return TrainConfig(train_data=str(csv_path), model="tiny-lsra-light", batch_size=4, out=str(out), quiet=True,
                       log_every=1, lr=3e-3, balancer_lr=0.1, workers=0, threads=1, **{**kd, **changes})


def read_log(out: Path) -> list[dict]:
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))
