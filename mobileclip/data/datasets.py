"""Datasets for training and evaluation: caption CSVs, class folders, webdataset-style tar shards.

Formats (all yield ``(image_tensor, token_ids, index_or_label)``; the tar shards are in :mod:`.shards`):

* :class:`CaptionCsv` -- a CSV with columns ``image,caption`` (COCO/Flickr style; one row per caption,
  an image may appear on several rows), image paths relative to the CSV's folder.
* :class:`ClassFolder` -- torchvision ``ImageFolder`` layout ``root/<class>/<image>``; the caption is a
  prompt template filled with the class name (``_`` in folder names reads as a space).
* :class:`TarShards` -- webdataset-style ``.tar`` shards: members ``<key>.jpg|jpeg|png|webp`` plus
  ``<key>.txt`` (the caption); ``pattern`` may use brace ranges (``shards-{000..009}.tar``) or globs.

A missing or corrupt image never stops a run: the item is ``None`` (map-style datasets) or not yielded
(shards), :func:`collate_count` drops (and counts) it, and the dataset's ``.skipped`` counts it (across DataLoader
workers); trainers print :func:`skip_report` at the end.

``python -m mobileclip.data`` (:mod:`.prepare`) writes the synthetic demo dataset, packs a caption CSV into tar
shards and unpacks a ``../shared/data`` archive.
"""
from __future__ import annotations

import csv
import io
import logging
import multiprocessing
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..utils.errors import MobileClipError
from .shared_data import extract_shared, shared_data_dir  # noqa: F401  (public here too)

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm", ".tif", ".tiff")


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


def image_files(folder) -> list[Path]:
    """Every image file (:data:`IMAGE_EXTENSIONS`) under ``folder``, recursively, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


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
