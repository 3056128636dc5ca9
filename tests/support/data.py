"""Test data built locally, once: where the repository and the shared data archives are, tiny CLIP configs,
tiny checkpoints and small caption CSVs."""
from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
CACHE = REPO / ".cache" / "test-data"
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 230, 20)}


def tiny_clip_config(image_size: int = 32, projection_dim: int = 32):
    from transformers import CLIPConfig

    text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=image_size, patch_size=8)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


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


def save_tiny_checkpoint(path: Path, config: str = "tiny-lsra-light", seed: int = 0) -> Path:
    """A freshly initialised student (``torch.manual_seed(seed)``) saved as a checkpoint."""
    from mobileclip import create_model, save_checkpoint

    torch.manual_seed(seed)
    return save_checkpoint(create_model(config), path)


def make_csv(folder: Path, n: int, corrupt: int = 0, missing: int = 0) -> Path:
    """n good coloured-square images (+ corrupt files + missing paths) with captions, as image,caption CSV."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows, names = [], list(COLOURS)
    for i in range(n):
        c = names[i % len(names)]
        img = Image.new("RGB", (40, 40), COLOURS[c])
        img.paste(Image.new("RGB", (10 + i % 7, 12), (255 - COLOURS[c][0], 128, 255 - COLOURS[c][2])), (i % 20, 5))
        img.save(folder / f"{i}.png")
        rows.append((f"{i}.png", f"a photo of a {c} square"))
    for j in range(corrupt):
        (folder / f"bad{j}.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 3)
        rows.append((f"bad{j}.jpg", "a broken image"))
    for j in range(missing):
        rows.append((f"missing{j}.jpg", "a missing image"))
    path = folder / "captions.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return path
