"""Datasets for training and evaluation: caption CSVs, class folders, webdataset-style tar shards.

Formats (all yield ``(image_tensor, token_ids, index_or_label)``):

* :class:`CaptionCsv` -- a CSV with columns ``image,caption`` (COCO/Flickr style; one row per caption,
  an image may appear on several rows), image paths relative to the CSV's folder.
* :class:`ClassFolder` -- torchvision ``ImageFolder`` layout ``root/<class>/<image>``; the caption is a
  prompt template filled with the class name (``_`` in folder names reads as a space).
* :class:`TarShards` -- webdataset-style ``.tar`` shards: members ``<key>.jpg|jpeg|png|webp`` plus
  ``<key>.txt`` (the caption); ``pattern`` may use brace ranges (``shards-{000..009}.tar``) or globs.

A missing or corrupt image never stops a run: the item is ``None`` (map-style datasets) or not yielded
(shards), :func:`collate_count` drops (and counts) it, and the dataset's ``.skipped`` counts it (across DataLoader
workers); trainers print :func:`skip_report` at the end.

``python -m mobileclip.data synth --out DIR`` writes the procedurally generated demo dataset
(:func:`write_synthetic_dataset`); ``python -m mobileclip.data shards CSV --out DIR`` packs a caption
CSV into tar shards; ``python -m mobileclip.data extract ARCHIVE`` unpacks a ``../shared/data`` archive.
"""
from __future__ import annotations

import argparse
import csv
import glob
import io
import itertools
import logging
import multiprocessing
import os
import random
from pathlib import Path

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ..utils.errors import MobileClipError, cli_errors
from .shared_data import extract_shared, shared_data_dir  # noqa: F401  (public here too: the CLI's extract command)
from .shard_writer import write_tar_shards  # noqa: F401  (public here too: the CLI's shards command)
from .synthetic import write_synthetic_dataset  # noqa: F401  (public here too: the CLI's synth command)

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm", ".tif", ".tiff")
SHARD_STRIDE = 1_000_000  # TarShards index = shard_number * SHARD_STRIDE + position in the shard


# ----------------------------------------------------------------------------------------------------------
# skip counting
# ----------------------------------------------------------------------------------------------------------
class SkipCounter:
    """Counts skipped (missing/corrupt) images, across DataLoader worker processes.

    Map-style datasets pass their length: one shared flag per item, so ``count`` is the number of
    distinct bad items however many epochs saw them. Streams pass ``first`` to :meth:`add` (whether this is
    the first look at that sample, see :class:`TarShards`): ``count`` counts first looks only, ``events``
    every one. ``examples`` keeps the first few reasons seen in *this* process (workers' reasons go to the log)."""

    def __init__(self, n: int | None = None):
        self.n = n
        if n is not None:
            self._flags = multiprocessing.RawArray("b", max(int(n), 1))
        self._events = multiprocessing.Value("q", 0)
        self._distinct = multiprocessing.Value("q", 0)
        self.examples: list[str] = []

    def add(self, index: int | None, reason: str, first: bool | None = None):
        if first is None:
            first = True
            if self.n is not None and index is not None:
                first = not self._flags[index]
                self._flags[index] = 1
        with self._events.get_lock():
            self._events.value += 1
            self._distinct.value += int(first)
        if first:
            if len(self.examples) < 5:
                self.examples.append(reason)
            log.warning("skipping image: %s", reason)

    @property
    def count(self) -> int:
        if self.n is not None:
            return int(sum(self._flags[: self.n]))
        return int(self._distinct.value)

    @property
    def events(self) -> int:
        return int(self._events.value)


def skip_report(*datasets) -> str:
    """One line for the end of a run: how many images were skipped, per dataset."""
    parts = []
    for ds in datasets:
        parts.append(f"{type(ds).__name__}: {ds.skipped} skipped")
        if ds.skipped and getattr(ds, "skip_counter", None) and ds.skip_counter.examples:
            parts[-1] += f" (e.g. {ds.skip_counter.examples[0]})"
    return "; ".join(parts) if parts else "no datasets"


def collate_count(batch):
    """Drop unreadable samples (``None``) and say how many were dropped: ``(collated or None, n_dropped)``."""
    from torch.utils.data import default_collate

    good = [b for b in batch if b is not None]
    return (default_collate(good) if good else None), len(batch) - len(good)


def load_image(source, what=None):
    """Open and fully decode an image (path or bytes). Returns ``(PIL image, None)`` or ``(None, reason)``."""
    from PIL import Image

    what = what or str(source)
    try:
        f = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        with Image.open(f) as im:
            im.load()
            return im.convert("RGB"), None
    except FileNotFoundError:
        return None, f"{what}: missing"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return None, f"{what}: unreadable ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})"


def _tokenize(tokenizer, text: str) -> torch.Tensor:
    return tokenizer([text])[0]


# ----------------------------------------------------------------------------------------------------------
# caption CSV
# ----------------------------------------------------------------------------------------------------------
def read_caption_csv(csv_path) -> list[tuple[Path, str]]:
    """Rows ``(absolute image path, caption)`` of an ``image,caption`` CSV (paths relative to the CSV)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise MobileClipError(f"caption CSV not found: {csv_path}")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: Excel's BOM is not a header
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "image" not in fields or "caption" not in fields:
                raise MobileClipError(f"{csv_path}: needs columns 'image,caption', found {fields}")
            rows, short = [], []
            for r in reader:
                if r.get("image") and r.get("caption") is not None:
                    rows.append((csv_path.parent / r["image"], r["caption"]))
                elif any(v for k, v in r.items() if k is not None):  # a blank line is no row
                    short.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as e:
        raise MobileClipError(f"{csv_path}: not a readable UTF-8 CSV ({type(e).__name__}: {e})") from None
    if short:
        log.warning("%s: %d row(s) without an image path or a caption column skipped (line %s%s)", csv_path,
                    len(short), ", ".join(map(str, short[:5])), ", ..." if len(short) > 5 else "")
    if not rows:
        raise MobileClipError(f"{csv_path}: no rows" + (f" with both an image and a caption ({len(short)} without)"
                                                        if short else ""))
    return rows


class CaptionCsv(Dataset):
    """Image-caption pairs from an ``image,caption`` CSV. Item: ``(image, token_ids[L], index)`` or ``None``."""

    def __init__(self, csv_path, transform, tokenizer):
        self.csv_path = Path(csv_path)
        self.rows = read_caption_csv(csv_path)
        self.transform = transform
        self.tokenizer = tokenizer
        self.skip_counter = SkipCounter(len(self.rows))

    @property
    def captions(self) -> list[str]:
        return [c for _, c in self.rows]

    @property
    def skipped(self) -> int:
        return self.skip_counter.count

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        path, caption = self.rows[index]
        image, reason = load_image(path)
        if image is None:
            self.skip_counter.add(index, reason)
            return None
        return self.transform(image), _tokenize(self.tokenizer, caption), index


# ----------------------------------------------------------------------------------------------------------
# class folders
# ----------------------------------------------------------------------------------------------------------
def classname(folder: str) -> str:
    """Folder name -> class name in prompts: ``tv_monitor`` -> ``tv monitor``."""
    return folder.replace("_", " ").strip()


class ClassFolder(Dataset):
    """``root/<class>/<image>`` (torchvision ``ImageFolder`` scan). Item: ``(image, token_ids, label)`` or
    ``None``; the caption is ``templates[0]`` filled with the class name, a random template if ``train``."""

    def __init__(self, root, transform, tokenizer, templates=None, train: bool = False):
        from torchvision.datasets.folder import find_classes, make_dataset

        from .templates import SINGLE, get_templates

        self.root = Path(root)
        if not self.root.is_dir():
            raise MobileClipError(f"class folder not found: {self.root}")
        try:  # torchvision's ImageFolder scan; loading is ours (bad images are skipped, not raised)
            classes, class_to_idx = find_classes(str(self.root))
            samples = make_dataset(str(self.root), class_to_idx, extensions=IMAGE_EXTENSIONS, allow_empty=True)
        except (FileNotFoundError, OSError) as e:
            raise MobileClipError(f"{self.root}: not a class-folder dataset ({e})") from None
        if not samples:
            raise MobileClipError(f"{self.root}: no images with extensions {IMAGE_EXTENSIONS} in its class folders")
        self.folders = classes
        self.classnames = [classname(c) for c in classes]
        self.class_to_idx = class_to_idx
        self.samples = [(Path(p), y) for p, y in samples]
        self.targets = [y for _, y in samples]
        self.templates = get_templates(templates if templates is not None else SINGLE)
        self.transform = transform
        self.tokenizer = tokenizer
        self.train = train
        self.skip_counter = SkipCounter(len(self.samples))

    @property
    def skipped(self) -> int:
        return self.skip_counter.count

    def __len__(self):
        return len(self.samples)

    def caption(self, label: int) -> str:
        t = self.templates[int(torch.randint(len(self.templates), ()))] if self.train else self.templates[0]
        return t.format(self.classnames[label])

    def __getitem__(self, index):
        path, label = self.samples[index]
        image, reason = load_image(path)
        if image is None:
            self.skip_counter.add(index, reason)
            return None
        return self.transform(image), _tokenize(self.tokenizer, self.caption(label)), label


# ----------------------------------------------------------------------------------------------------------
# tar shards
# ----------------------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m mobileclip.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write the synthetic coloured-shapes dataset")
    s.add_argument("--out", required=True, help="output folder (created atomically)")
    s.add_argument("--n-train", type=int, default=2000, help="training images (two captions each; default 2000)")
    s.add_argument("--n-test", type=int, default=400, help="test images (default 400)")
    s.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--colour-bias", type=float, default=0.8,
                   help="probability that a shape gets its typical colour (0 = colours independent of the "
                        "class; default 0.8)")
    s.add_argument("--force", action="store_true",
                   help="regenerate an earlier synthetic dataset in --out (refused if the folder holds anything else)")
    t = sub.add_parser("shards", help="pack an image,caption CSV into webdataset-style tar shards")
    t.add_argument("csv", help="caption CSV (columns image,caption; paths relative to the CSV)")
    t.add_argument("--out", required=True, help="output folder for <prefix>-NNNNNN.tar")
    t.add_argument("--samples-per-shard", type=int, default=1000, help="samples per shard (default 1000)")
    t.add_argument("--prefix", default="shard", help="shard file name prefix (default 'shard')")
    t.add_argument("--force", action="store_true",
                   help="replace the <prefix>-NNNNNN.tar shards an earlier run wrote in --out (no other file)")
    e = sub.add_parser("extract", help="extract an archive of ../shared/data into the cache")
    e.add_argument("archive", help="archive name in the shared data folder (e.g. cifar10.tar.gz) or a path")
    e.add_argument("--cache-dir", default=".cache/data", help="where to extract (default .cache/data)")
    e.add_argument("--shared-dir", default=None,
                   help="shared data folder (default $MOBILECLIP_SHARED_DATA or <repo>/../shared/data)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.data"):
        if args.command == "synth":
            meta = write_synthetic_dataset(args.out, args.n_train, args.n_test, args.size, args.seed,
                                           overwrite=args.force, colour_bias=args.colour_bias)
            print(f"synthetic dataset in {args.out}: {meta['counts']['train']['images']} train / "
                  f"{meta['counts']['test']['images']} test images, classes: {', '.join(meta['classes'])}")
        elif args.command == "shards":
            paths = write_tar_shards(args.csv, args.out, args.samples_per_shard, args.prefix, force=args.force)
            print(f"wrote {len(paths)} shards to {args.out}")
        else:
            print(extract_shared(args.archive, args.cache_dir, args.shared_dir))


if __name__ == "__main__":
    main()
