"""Training data: paired student/teacher crops, deterministic per-sample augmentation, epoch batches.

Shared by ``mobileclip.train`` and ``mobileclip.cache_teacher`` (which must reproduce training's crops).
"""
from __future__ import annotations

import random
from pathlib import Path

import torch

from ..utils.torchvision_guard import import_torchvision
from ..data.datasets import collate_count
from ..utils.errors import TrainError
from ..models.transform import CLIP_MEAN, CLIP_STD

class PairTransform:
    """PIL image -> student tensor, or (student, teacher) tensors cut from the *same* random crop.

    Train mode samples the crop box once (RandomResizedCrop parameters) and resizes it to each model's
    size with each model's mean/std, so the teacher sees the same content at its own resolution.
    """

    def __init__(self, student_cfg: dict, teacher_cfg: dict | None = None, train: bool = True,
                 scale=(0.9, 1.0)):
        self.cfgs = [student_cfg] + ([teacher_cfg] if teacher_cfg else [])
        self.train, self.scale = train, tuple(scale)

    def _finish(self, img, cfg):
        T = import_torchvision().transforms
        return T.functional.normalize(T.functional.to_tensor(img), cfg.get("mean", CLIP_MEAN), cfg.get("std", CLIP_STD))

    def __call__(self, img):
        T = import_torchvision().transforms
        img = img.convert("RGB")
        outs = []
        box = T.RandomResizedCrop.get_params(img, self.scale, (3 / 4, 4 / 3)) if self.train else None
        for cfg in self.cfgs:
            size = int(cfg.get("image_size", 224))
            interp = T.InterpolationMode(cfg.get("interpolation", "bicubic"))
            if box is not None:
                x = T.functional.resized_crop(img, *box, [size, size], interpolation=interp)
            else:
                x = T.functional.center_crop(T.functional.resize(img, size, interpolation=interp), size)
            outs.append(self._finish(x, cfg))
        return outs[0] if len(outs) == 1 else tuple(outs)


def item_seed(seed: int, variant: int, index: int) -> int:
    return ((seed * 1_000_003 + variant) * 10_000_019 + index) % (2**63 - 1)


def seeded_call(seed: int, fn, *args):
    """``fn(*args)`` with torch's and Python's RNGs seeded from ``seed``; both RNGs are restored afterwards."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            return fn(*args)
        finally:
            random.setstate(state)


class SeededView(torch.utils.data.Dataset):
    """Map-style dataset wrapper: item ``i`` is transformed with RNGs seeded from (seed, variant, i).

    Returns ``(image(s), ids, i)`` or None for an unreadable sample. ``variant`` is the augmentation
    variant (the epoch, or epoch % K with a K-variant teacher cache).
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed, self.variant = dataset, seed, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        item = seeded_call(item_seed(self.seed, self.variant, int(i)), self.dataset.__getitem__, i)
        if item is None:
            return None
        return item[0], item[1], int(i)


def collate_train(batch):
    """:func:`~mobileclip.data.collate_count` for training: a batch left with fewer than two readable samples is
    skipped as well (BatchNorm in train mode cannot normalise a batch of one)."""
    collated, dropped = collate_count(batch)
    return (collated if collated is not None and len(collated[-1]) >= 2 else None), dropped


class SeededAugment:
    """``(image, index) -> transform(image)`` with the RNGs seeded from (seed, variant, index), as
    :class:`SeededView` does for map-style data: streamed samples whose crops a per-shard teacher cache
    describes (``TarShards.augment``)."""

    def __init__(self, transform, seed: int, variant: int = 0):
        self.transform, self.seed, self.variant = transform, seed, variant

    def __call__(self, image, index: int):
        return seeded_call(item_seed(self.seed, self.variant, int(index)), self.transform, image)


def subset_indices(n: int, fraction: float, seed: int) -> torch.Tensor:
    """``--train-subset``: the sorted first ``round(fraction * n)`` (at least 1) of a ``seed``-ed permutation."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:max(1, round(fraction * n))].sort().values


def epoch_batches(n_indices: int, batch_size: int, seed: int, epoch: int, rank: int, world: int) -> list[list[int]]:
    """This rank's batches (positions into the training index list) for ``epoch``; drop-last, same count per rank."""
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    perm = torch.randperm(n_indices, generator=g)
    per_step = batch_size * world
    usable = (n_indices // per_step) * per_step
    if usable == 0:
        raise TrainError(f"{n_indices} training samples < batch size {batch_size} x {world} processes")
    mine = perm[:usable][rank::world]
    return [mine[i:i + batch_size].tolist() for i in range(0, len(mine), batch_size)]


def is_tar_shards(path: str) -> bool:
    """Whether ``--train-data`` names tar shards (a pattern/file with .tar, or a folder of .tar files)."""
    p = Path(path)
    return ".tar" in p.name or (p.is_dir() and any(p.glob("*.tar")))


def build_dataset(path: str, transform, tokenizer, templates: str = "ensemble", rank: int = 0, world: int = 1,
                  seed: int = 0, shuffle_buffer: int = 0, resample: bool = False):
    """CSV (image,caption) | class folder (captions from templates) | tar shards (pattern with .tar; with a
    sample ``shuffle_buffer`` and shard ``resample``-ing)."""
    from ..data import datasets as data
    from ..data.shards import TarShards

    p = Path(path)
    if is_tar_shards(path):
        return TarShards(str(path), transform, tokenizer, rank=rank, world_size=world, shuffle_shards=True,
                         seed=seed, shuffle_buffer=shuffle_buffer, resample=resample)
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise TrainError(f"caption CSV not found: {path}")
        return data.CaptionCsv(str(path), transform, tokenizer)
    if p.is_dir():
        from ..data.templates import get_templates

        return data.ClassFolder(str(path), transform, tokenizer, get_templates(templates), train=True)
    raise TrainError(f"--train-data {path}: expected a captions .csv, a class folder or .tar shards")
