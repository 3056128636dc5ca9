"""A "phone photo" set for ``benchmarks.indexing``: real photos (the Flickr8k subset in ``../shared/data``)
upscaled to a phone camera's 12-megapixel 4032x3024 JPEG, beside copies of their originals.

Upscaling adds no detail, but the decoder's work depends on the pixel count and the JPEG's coding, not on the
detail: a 12 MP baseline JPEG at quality 92 (4:2:0, what phone cameras write) costs what a phone photo costs to
decode. Every fourth photo is stored the way a phone held upright stores it: pixels rotated, EXIF
Orientation 6, so the orientation step is exercised too. Files are written atomically, once (a second call
reuses them).
"""
from __future__ import annotations

from pathlib import Path

from mobileclip.utils.errors import MobileClipError
from mobileclip.utils.fileio import atomic_path

PHONE_SIZE = (4032, 3024)  # 12 MP, 4:3 landscape
QUALITY = 92
ORIENTATION_TAG = 0x0112


def source_photos(n: int, source: str | None = None) -> list[Path]:
    """The first ``n`` photos (sorted by name) of ``source`` (a folder of JPEGs; default: the Flickr8k subset)."""
    if source is None:
        from mobileclip.data.shared_data import extract_shared

        folder = extract_shared("flickr8k_subset.tar.gz") / "images"
    else:
        folder = Path(source)
    if not folder.is_dir():
        raise MobileClipError(f"photo source {folder} is not a folder")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:n]
    if len(photos) < n:
        raise MobileClipError(f"{folder} holds {len(photos)} JPEG photos, {n} asked for")
    return photos


def phone_photo(src: Path, dest: Path, rotate: bool) -> Path:
    """``src`` center-cropped to 4:3 and resized (bicubic) to 4032x3024; with ``rotate`` stored as a portrait
    phone photo (pixels turned 90 degrees, EXIF Orientation 6: viewers turn it back)."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        im = ImageOps.fit(im, PHONE_SIZE, Image.Resampling.BICUBIC)
    exif = Image.Exif()
    if rotate:
        im = im.transpose(Image.Transpose.ROTATE_90)  # what a sensor held upright records; Orientation 6 undoes it
        exif[ORIENTATION_TAG] = 6
    with atomic_path(dest) as tmp:
        im.save(tmp, format="JPEG", quality=QUALITY, subsampling="4:2:0", exif=exif.tobytes())
    return dest


def make_phone_set(out: str | Path, n: int, source: str | None = None) -> tuple[Path, Path]:
    """``(out/phone, out/originals)``: ``n`` 12 MP phone photos and the originals they were made from."""
    import shutil

    out = Path(out)
    phone, originals = out / "phone", out / "originals"
    phone.mkdir(parents=True, exist_ok=True)
    originals.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(source_photos(n, source)):
        if not (phone / src.name).is_file():
            phone_photo(src, phone / src.name, rotate=i % 4 == 3)
        if not (originals / src.name).is_file():
            with atomic_path(originals / src.name) as tmp:
                shutil.copyfile(src, tmp)
    return phone, originals
