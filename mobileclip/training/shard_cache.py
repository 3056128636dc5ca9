"""Teacher reinforcements for tar shards: one sidecar per shard, streamed with the shard.

MobileCLIP's dataset reinforcement at scale: the in-memory ``.pt`` cache of ``mobileclip.cache_teacher``
holds ``(variants, samples, dim)`` tensors, which does not fit millions of samples. Here every shard
``NAME.tar`` gets ``NAME.teacher.npz`` (next to it, or in ``out_dir``) holding, for the shard's readable
samples, float16 teacher image embeddings for K augmentation variants and one text embedding per caption:

* ``keys`` (n,) sample keys, ``index`` (n,) the TarShards index (``shard * SHARD_STRIDE + position``);
* ``image`` (K, n, D) and ``text`` (n, D) float16, ``logit_scale`` the teacher's (float32);
* ``meta``: JSON of what the sidecar was built from (teacher, seed, variants, crop scale, preprocessing, the
  shard's name and size); a reader or a rebuild with other settings is refused.

Disk (and memory while a shard is read): ``(K + 1) * D * 2`` bytes per sample, e.g. 31 744 bytes (31 KiB) for K = 30,
D = 512. A reader holds one shard's sidecar per DataLoader worker, so memory does not grow with the dataset.
Building is resumable shard by shard (a valid sidecar is kept) and splits shards across ranks.

The augmentation must be a deterministic function of ``(variant, index)`` -- ``augment(image, variant, index)``
-- and training must apply the same function for the cached embeddings to describe its crops.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.datasets import _tokenize, load_image
from ..utils.errors import MobileClipError
from ..utils.fileio import atomic_path

FORMAT, VERSION = "mobileclip-kd-shard-teacher", 1


def sidecar_path(shard: Path, out_dir: Path | None = None) -> Path:
    shard = Path(shard)
    stem = shard.name[: -len(".tar")] if shard.name.endswith(".tar") else shard.name
    return Path(out_dir or shard.parent) / f"{stem}.teacher.npz"


def sidecar_meta(settings: dict, shard: Path) -> dict:
    """What a sidecar must match: the build ``settings`` plus the shard's identity (name, size in bytes)."""
    return {"format": FORMAT, "version": VERSION, **settings, "shard": Path(shard).name,
            "shard_bytes": Path(shard).stat().st_size}


def read_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:  # reads only the meta member
        return json.loads(str(z["meta"]))


def _check(path: Path, want: dict) -> bool:
    """True if ``path`` exists and was built for ``want``; an existing sidecar for other settings is an error."""
    if not path.is_file():
        return False
    try:
        have = read_meta(path)
    except (OSError, ValueError, KeyError) as e:
        raise MobileClipError(f"{path}: not a readable teacher sidecar ({e}); delete it to rebuild") from None
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if diff:
        what = ", ".join(f"{k}: {have.get(k)!r} != {want.get(k)!r}" for k in diff)
        raise MobileClipError(f"{path} was built for other settings ({what})")
    return True


def build_shard_sidecars(dataset, encode: Callable, augment: Callable, settings: dict, variants: int,
                         out_dir=None, rank: int = 0, world_size: int = 1, batch_size: int = 64) -> dict:
    """Write the sidecars of this rank's shards (``dataset``: a :class:`mobileclip.data.shards.TarShards`).

    ``encode(images, ids) -> {"image_embeds", "text_embeds", "logit_scale"}`` is the teacher;
    ``augment(pil_image, variant, index) -> tensor`` the deterministic crop; ``settings`` what must match.
    Every existing sidecar is checked before any work. Returns ``{"written": [...], "kept": [...]}``."""
    if variants < 1:
        raise MobileClipError("variants must be >= 1")
    settings = {**settings, "variants": variants}
    mine = list(range(len(dataset.shards)))[rank::world_size]
    todo, kept = [], []
    for s in mine:
        path = sidecar_path(dataset.shards[s], out_dir)
        (kept if _check(path, sidecar_meta(settings, dataset.shards[s])) else todo).append(s)
    for s in todo:
        keys, index, images, ids = [], [], [], []
        for idx, sample in dataset.shard_samples(s):
            img = next((sample[e] for e in dataset.IMAGE_EXTS if e in sample), None)
            image = load_image(img, sample["__key__"])[0] if img is not None and "txt" in sample else None
            if image is None:
                continue
            keys.append(sample["__key__"])
            index.append(idx)
            images.append(image)
            ids.append(_tokenize(dataset.tokenizer, sample["txt"].decode("utf-8", errors="replace").strip()))
        image_emb, text_emb, scale = _encode_shard(images, ids, index, encode, augment, variants, batch_size)
        path = sidecar_path(dataset.shards[s], out_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(sidecar_meta(settings, dataset.shards[s]))),
                         keys=np.array(keys, dtype=str), index=np.array(index, dtype=np.int64),
                         image=image_emb, text=text_emb, logit_scale=np.float32(scale))
    return {"written": [sidecar_path(dataset.shards[s], out_dir) for s in todo],
            "kept": [sidecar_path(dataset.shards[s], out_dir) for s in kept]}


@torch.no_grad()
def _encode_shard(images, ids, index, encode, augment, variants: int, batch_size: int):
    n = len(images)
    image_out, text_out, scale = None, None, float("nan")
    for v in range(variants):
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            x = torch.stack([augment(images[i], v, index[i]) for i in range(a, b)])
            out = encode(x, torch.stack(ids[a:b]))
            if image_out is None:
                d = out["image_embeds"].shape[-1]
                image_out = np.zeros((variants, n, d), np.float16)
                text_out = np.zeros((n, d), np.float16)
            image_out[v, a:b] = out["image_embeds"].float().cpu().numpy()
            if v == 0:
                text_out[a:b] = out["text_embeds"].float().cpu().numpy()
            scale = float(out["logit_scale"])
    if image_out is None:  # no readable sample in the shard
        image_out, text_out = np.zeros((variants, 0, 0), np.float16), np.zeros((0, 0), np.float16)
    return image_out, text_out, scale


class ShardTeacherCache:
    """Reader: checks every shard's sidecar against ``settings`` up front, then loads one shard at a time."""

    def __init__(self, shards, settings: dict, variants: int, out_dir=None):
        self.settings, self.variants, self.out_dir = {**settings, "variants": variants}, variants, out_dir
        missing = [str(sidecar_path(s, out_dir)) for s in shards
                   if not _check(sidecar_path(s, out_dir), sidecar_meta(self.settings, s))]
        if missing:
            raise MobileClipError(f"{len(missing)} shard(s) have no teacher sidecar (e.g. {missing[0]}); "
                                  f"build them with the same settings first")

    def load(self, shard) -> "ShardEmbeddings":
        with np.load(sidecar_path(shard, self.out_dir), allow_pickle=False) as z:
            return ShardEmbeddings(z["keys"].tolist(), z["image"], z["text"], float(z["logit_scale"]),
                                   z["index"].tolist())


class ShardEmbeddings:
    """One shard's teacher embeddings: ``lookup(key, variant)`` -> fp32 (image, text) tensors."""

    def __init__(self, keys, image, text, logit_scale: float, index=()):
        self.row = {k: i for i, k in enumerate(keys)}
        self.row_of_index = {int(x): i for i, x in enumerate(index)}  # TarShards index -> row
        self.image, self.text, self.logit_scale = image, text, logit_scale

    def __contains__(self, key) -> bool:
        return key in self.row

    def lookup(self, key: str, variant: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.row[key]
        return (torch.from_numpy(self.image[variant % self.image.shape[0], i].astype(np.float32)),
                torch.from_numpy(self.text[i].astype(np.float32)))

