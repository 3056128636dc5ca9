"""Shared fixtures, each built once: tiny locally-built teachers and students, the shared data archives."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tests.support.data import save_tiny_checkpoint, shared_member, tiny_clip_config


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A tiny HF CLIPModel saved with save_pretrained: the real loading path, no hub."""
    from transformers import CLIPModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_teacher")
    CLIPModel(tiny_clip_config()).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def flickr_captions() -> list[str]:
    path = shared_member("flickr8k_subset.tar.gz", "flickr8k_subset/captions.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return [row["caption"] for row in csv.DictReader(f)]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A freshly initialised tiny student checkpoint (seed 0)."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory) -> Path:
    """The tiny student with BatchNorm statistics calibrated, as the export demo makes it (what exports use)."""
    from export.demo import make_bn_calibrated_student

    return make_bn_calibrated_student(tmp_path_factory.mktemp("student") / "tiny.pt", "tiny-lsra-light")
