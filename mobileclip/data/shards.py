"""Webdataset-style tar shards: members ``<key>.jpg|jpeg|png|webp`` plus ``<key>.txt`` (the caption), streamed
by :class:`TarShards` (split across DDP ranks and DataLoader workers); :mod:`.shard_writer` writes them from a
caption CSV. A missing or corrupt image is skipped and counted once, as in :mod:`.datasets`."""
from __future__ import annotations

import glob
import itertools
import multiprocessing
import os
import random
from pathlib import Path

import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..utils.errors import MobileClipError
from .datasets import SkipCounter, _tokenize, load_image

SHARD_STRIDE = 1_000_000  # TarShards index = shard_number * SHARD_STRIDE + position in the shard


def expand_shards(pattern) -> list[Path]:
    """``a-{000..009}.tar`` brace ranges, ``{a,b}`` alternatives (webdataset's brace expansion), globs, a
    folder, or a list of those."""
    import braceexpand

    if isinstance(pattern, (list, tuple)):
        return [p for item in pattern for p in expand_shards(item)]
    pattern = str(pattern)
    if os.path.isdir(pattern):
        return sorted(Path(pattern).glob("*.tar"))
    out = []
    for item in braceexpand.braceexpand(pattern):
        out += sorted(Path(p) for p in glob.glob(item)) if any(ch in item for ch in "*?[") else [Path(item)]
    return out


class TarShards(IterableDataset):
    """Stream ``(image, token_ids, index)`` from webdataset tar shards, read with ``webdataset``.

    Shards are split across DDP ranks (``rank``/``world_size``, webdataset's ``split_by_node``) and then
    DataLoader workers (``split_by_worker``). ``index`` is ``shard_number * SHARD_STRIDE + position``.
    Every random choice is seeded from ``(seed, epoch, rank, worker)``, so an epoch's stream is a pure
    function of them and a resumed run replays it to its position:

    * ``shuffle_shards``: the shard order is reshuffled per epoch (before splitting);
    * ``shuffle_buffer``: samples also pass through webdataset's shuffle buffer of that size (0: off);
    * ``resample``: shards are drawn with replacement, endlessly (webdataset's ``ResampledShards``); each
      rank/worker draws its own sequence, so no split is needed and an "epoch" never ends.
    """

    IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")

    def __init__(self, pattern, transform, tokenizer, rank: int = 0, world_size: int = 1,
                 shuffle_shards: bool = False, seed: int = 0, shuffle_buffer: int = 0, resample: bool = False):
        self.shards = expand_shards(pattern)
        missing = [str(s) for s in self.shards if not s.is_file()]
        if not self.shards or missing:
            raise MobileClipError(f"tar shards not found: {missing[:3] or pattern}")
        self.transform, self.tokenizer = transform, tokenizer
        self.rank, self.world_size = rank, world_size
        self.shuffle_shards, self.seed, self.epoch = shuffle_shards, seed, 0
        self.shuffle_buffer, self.resample = shuffle_buffer, resample
        self.skip_counter = SkipCounter(None)
        self._number = {str(path): i for i, path in enumerate(self.shards)}
        # per shard, across workers: positions [0, n) already looked at (a reader reads a shard from its start, so
        # a later pass -- next epoch, another worker, a resampled draw -- counts none of them again), and
        # whether its unreadable part was counted
        self._looked = multiprocessing.Array("q", len(self.shards))
        self._broken = multiprocessing.RawArray("b", len(self.shards))
        self.augment = None  # (image, index) -> tensor(s): a per-sample seeded transform instead of transform

    @property
    def skipped(self) -> int:
        return self.skip_counter.count

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def _stream_seed(self) -> int:
        info = get_worker_info()
        return ((self.seed * 1_000_003 + self.epoch) * 10_007 + self.rank) * 1_009 + (info.id if info else 0)

    def _shard_urls(self):
        """This rank's and worker's shards for the epoch, as webdataset ``{"url": ...}`` items."""
        import webdataset as wds

        urls = [str(p) for p in self.shards]
        if self.resample:
            return iter(wds.ResampledShards(urls, seed=self.seed, worker_seed=self._stream_seed, deterministic=True))
        order = list(range(len(urls)))
        if self.shuffle_shards:
            order = torch.randperm(len(order), generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        mine = itertools.islice((dict(url=urls[i]) for i in order), self.rank, None, self.world_size)  # split_by_node
        return wds.split_by_worker(mine)

    def _unreadable(self, exn: Exception) -> bool:
        where = next((a for a in reversed(exn.args) if isinstance(a, str) and a in self._number), "a shard")
        first = where not in self._number or not self._broken[self._number[where]]
        if where in self._number:
            self._broken[self._number[where]] = 1
        text = exn.args[0] if exn.args else ""
        self.skip_counter.add(None, f"{where}: unreadable shard ({type(exn).__name__}: {text}), rest of it skipped",
                              first=first)
        return True  # webdataset's handler protocol: go on with the next shard

    def _first_look(self, index: int) -> bool:
        """Whether no reader of this dataset has looked at sample ``index`` before (and mark it looked at)."""
        s, pos = divmod(index, SHARD_STRIDE)
        with self._looked.get_lock():
            first = pos >= self._looked[s]
            if first:
                self._looked[s] = pos + 1
        return first

    def samples(self):
        """Raw webdataset samples (``__key__``, ``__url__``, one entry per extension) with their ``index``."""
        import webdataset as wds

        url, keys = None, set()  # the shard being read and its keys so far (a resampled shard can come twice in a row)
        for sample in wds.tarfile_samples(self._shard_urls(), handler=self._unreadable):
            if sample["__url__"] != url or sample["__key__"] in keys:
                url, keys = sample["__url__"], set()
            keys.add(sample["__key__"])
            index = self._number[url] * SHARD_STRIDE + len(keys) - 1
            sample["__first__"] = self._first_look(index)  # before the shuffle buffer: in shard order
            yield index, sample

    def shard_samples(self, s: int):
        """``(index, raw sample)`` for every key group of shard ``s`` alone, readable or not (cache builders)."""
        import webdataset as wds

        for pos, sample in enumerate(wds.tarfile_samples([dict(url=str(self.shards[s]))], handler=self._unreadable)):
            yield s * SHARD_STRIDE + pos, sample

    def __iter__(self):
        import webdataset as wds

        stream = self.samples()
        if self.shuffle_buffer > 0:
            stream = wds.shuffle(self.shuffle_buffer, min(100, self.shuffle_buffer),
                                 rng=random.Random(self._stream_seed()))(stream)
        for index, sample in stream:
            where = f"{Path(sample['__url__']).name}:{sample['__key__']}"
            img = next((sample[e] for e in self.IMAGE_EXTS if e in sample), None)
            txt = sample.get("txt")
            if img is None or txt is None:
                self.skip_counter.add(index, f"{where}: {'image' if img is None else 'caption'} missing",
                                      first=sample["__first__"])
                continue
            image, reason = load_image(img, where)
            if image is None:
                self.skip_counter.add(index, reason, first=sample["__first__"])
                continue
            caption = txt.decode("utf-8", errors="replace").strip()
            x = self.augment(image, index) if self.augment is not None else self.transform(image)
            yield x, _tokenize(self.tokenizer, caption), index
