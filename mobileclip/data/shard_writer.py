"""``python -m mobileclip.data shards``: pack an ``image,caption`` CSV into webdataset tar shards.

Shards are written with webdataset's own :class:`webdataset.TarWriter`: every member is a regular file holding
its bytes (never a tar hard link, which ``tarfile.add`` makes for an image listed on several caption rows when
the file has several links, and which webdataset's reader -- so :class:`~mobileclip.data.TarShards`, the
teacher cache and training -- cannot follow). Rows whose image is missing are not written; they are counted
and named in one warning. The shards of one run replace those of an earlier one only with ``force``: an
earlier run's extra shards would otherwise be read with the new ones.
"""
from __future__ import annotations

import io
import logging
import math
import os
import re
from pathlib import Path

from ..utils.errors import MobileClipError
from ..utils.fileio import atomic_path

log = logging.getLogger(__name__)

TAR_IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")  # what TarShards decodes (TarShards.IMAGE_EXTS)


def shard_name_pattern(prefix: str) -> re.Pattern:
    """The file names :func:`write_tar_shards` gives its shards (``<prefix>-NNNNNN.tar``)."""
    return re.compile(rf"^{re.escape(prefix)}-\d{{6}}\.tar$")


def _image_member(path: Path) -> tuple[str, bytes]:
    """``(extension, bytes)`` of an image as TarShards reads it: the file as it is, or PNG for other formats."""
    ext = path.suffix.lower().lstrip(".")
    if ext in TAR_IMAGE_EXTS:
        return ext, path.read_bytes()
    from .datasets import load_image

    image, reason = load_image(path)
    if image is None:  # stored as it is: TarShards counts it as unreadable, like any corrupt image
        return "png", path.read_bytes()
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "png", buf.getvalue()


def _earlier_shards(out_dir: Path, prefix: str) -> list[Path]:
    pattern = shard_name_pattern(prefix)
    return sorted(p for p in out_dir.iterdir() if pattern.match(p.name) and p.is_file()) if out_dir.is_dir() else []


def write_tar_shards(csv_path, out_dir, samples_per_shard: int = 1000, prefix: str = "shard",
                     force: bool = False) -> list[Path]:
    """Pack an ``image,caption`` CSV into ``out_dir/<prefix>-000000.tar, ...``: one sample per CSV row whose
    image exists (key = the row number), each shard written to a temp file and renamed. ``out_dir`` holding
    ``<prefix>-NNNNNN.tar`` files already is refused unless ``force``; then the earlier shards that this run
    does not rewrite are removed (no other file is touched)."""
    import webdataset as wds
    from tqdm import tqdm

    from .datasets import read_caption_csv

    if samples_per_shard < 1:
        raise MobileClipError("--samples-per-shard must be >= 1")
    rows = read_caption_csv(csv_path)
    out_dir = Path(out_dir)
    earlier = _earlier_shards(out_dir, prefix)
    if earlier and not force:
        raise MobileClipError(f"{out_dir} already holds {len(earlier)} shard(s) named {prefix}-NNNNNN.tar (e.g. "
                              f"{earlier[0].name}); pass --force to replace them, or choose another --out/--prefix")
    present = [(i, image, caption) for i, (image, caption) in enumerate(rows) if image.is_file()]
    if len(present) < len(rows):
        missing = next(image for image, _ in rows if not image.is_file())
        log.warning("%d of %d caption rows not written: image missing (e.g. %s)", len(rows) - len(present),
                    len(rows), missing)
    if not present:
        raise MobileClipError(f"{csv_path}: none of the {len(rows)} rows' images exists")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in tqdm(range(math.ceil(len(present) / samples_per_shard)), desc="write shards", unit="shard"):
        path = out_dir / f"{prefix}-{s:06d}.tar"
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            writer = wds.TarWriter(f, encoder=False, mtime=0.0, user="mobileclip", group="mobileclip")
            for i, image, caption in present[s * samples_per_shard:(s + 1) * samples_per_shard]:
                ext, data = _image_member(image)
                writer.write({"__key__": f"{i:09d}", ext: data, "txt": caption.encode("utf-8")})
            writer.close()
            f.flush()
            os.fsync(f.fileno())
        paths.append(path)
    for old in set(earlier) - set(paths):
        old.unlink(missing_ok=True)
    return paths
