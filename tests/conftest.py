"""Shared fixtures: tiny locally-built teachers, the shared data archives, small inputs."""
from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CACHE = REPO / ".cache" / "test-data"


def tiny_clip_config(image_size: int = 32, projection_dim: int = 32):
    from transformers import CLIPConfig

    text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=image_size, patch_size=8)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A tiny HF CLIPModel saved with save_pretrained: the real loading path, no hub."""
    from transformers import CLIPModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_teacher")
    CLIPModel(tiny_clip_config()).save_pretrained(path)
    return path


def shared_member(archive: str, member: str) -> Path:
    """Extract one file of a ../shared/data archive into the git-ignored test cache (once)."""
    src = SHARED_DATA / archive
    if not src.is_file():
        pytest.skip(f"{src} not present (the shared data folder sits beside the repository)")
    dest = CACHE / member
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(src) as tar:
            f = tar.extractfile(member)
            tmp = dest.with_suffix(".tmp")
            tmp.write_bytes(f.read())
            tmp.replace(dest)
    return dest


@pytest.fixture(scope="session")
def flickr_captions() -> list[str]:
    path = shared_member("flickr8k_subset.tar.gz", "flickr8k_subset/captions.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return [row["caption"] for row in csv.DictReader(f)]
