"""Parallel sentence files (Multi30k style): ``<prefix>.<lang>`` files, line *i* of each is the same sentence.

``read_parallel(["multi30k/train.en", "multi30k/train.de", "multi30k/train.fr"])`` returns a
:class:`ParallelCorpus` with the source (English) side and one list per other language. Files of different
lengths are a :class:`ParallelDataError` (misaligned files would silently teach wrong translations). Rows
with an empty sentence in any file are dropped together (counted in ``dropped_empty``).

``exclude_images``: Flickr image names (``1000092795.jpg``; a Flickr8k-subset name ``1000092795_ab12.jpg``
matches too) whose rows are removed -- read from ``<prefix>.images.txt`` beside the files. Used to keep
the captions of an evaluation image set out of training.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..utils.errors import MobileClipError


class ParallelDataError(MobileClipError):
    pass


@dataclass
class ParallelCorpus:
    source_lang: str
    source: list[str]
    translations: dict[str, list[str]]
    images: list[str] | None = None
    dropped_empty: int = 0
    dropped_excluded: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def languages(self) -> list[str]:
        return list(self.translations)

    def __len__(self) -> int:
        return len(self.source)


def _lang_of(path: Path) -> str:
    lang = path.suffix.lstrip(".")
    if not lang or not lang.isalpha() or len(lang) > 3:
        raise ParallelDataError(f"{path}: the language must be the file suffix (e.g. train.de), got {path.name!r}")
    return lang


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ParallelDataError(f"parallel file not found: {path}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ParallelDataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def flickr_id(name: str) -> str:
    """``1000092795.jpg`` and ``images/1000092795_ab12cd.jpg`` -> ``1000092795``."""
    return Path(name.strip()).stem.split("_")[0]


def read_image_list(path) -> set[str]:
    """Flickr ids from an ``image,caption`` CSV (column ``image``) or a text file of image names."""
    path = Path(path)
    if not path.is_file():
        raise ParallelDataError(f"image list not found: {path}")
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows and "image" not in rows[0]:
            raise ParallelDataError(f"{path}: CSV has no 'image' column")
        return {flickr_id(r["image"]) for r in rows}
    return {flickr_id(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()}


def read_parallel(files, source_lang: str = "en", exclude_images: set[str] | None = None) -> ParallelCorpus:
    """Read aligned files; the one whose suffix is ``source_lang`` is the teacher's side."""
    paths = [Path(f) for f in files]
    langs = [_lang_of(p) for p in paths]
    if len(set(langs)) != len(langs):
        raise ParallelDataError(f"each language once please, got {langs}")
    if source_lang not in langs:
        raise ParallelDataError(f"no {source_lang!r} file among {[str(p) for p in paths]}: the teacher reads it")
    if len(langs) < 2:
        raise ParallelDataError("need the source file and at least one translation")
    lines = {lang: _read_lines(p) for lang, p in zip(langs, paths)}
    counts = {lang: len(v) for lang, v in lines.items()}
    if len(set(counts.values())) != 1:
        detail = ", ".join(f"{p} has {counts[lang]}" for lang, p in zip(langs, paths))
        raise ParallelDataError(f"misaligned parallel files (line counts differ): {detail}")
    n = counts[source_lang]
    images = None
    images_file = paths[0].with_suffix(".images.txt")
    if images_file.is_file():
        images = _read_lines(images_file)
        if len(images) != n:
            raise ParallelDataError(f"misaligned parallel files: {images_file} has {len(images)} lines, "
                                    f"the sentence files {n}")
    if exclude_images and images is None:
        raise ParallelDataError(f"cannot exclude images: {images_file} (the image of each line) not found")
    keep, empty, excluded = [], 0, 0
    for i in range(n):
        if any(not lines[lang][i].strip() for lang in langs):
            empty += 1
        elif exclude_images and flickr_id(images[i]) in exclude_images:
            excluded += 1
        else:
            keep.append(i)
    pick = lambda seq: [seq[i].strip() for i in keep]  # noqa: E731
    return ParallelCorpus(
        source_lang=source_lang, source=pick(lines[source_lang]),
        translations={lang: pick(lines[lang]) for lang in langs if lang != source_lang},
        images=pick(images) if images is not None else None, dropped_empty=empty, dropped_excluded=excluded,
        files=[str(p) for p in paths])


def split_files(prefix, languages, source_lang: str = "en") -> list[str]:
    """``("multi30k/train", ["de", "fr"])`` -> ``["multi30k/train.en", "multi30k/train.de", "multi30k/train.fr"]``."""
    return [f"{prefix}.{lang}" for lang in [source_lang, *[x for x in languages if x != source_lang]]]
