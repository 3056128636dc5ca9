"""Calibration and verification data: the embedded scikit-image sample photos and captions, or a user's
folder of images (class sub-folders = labelled zero-shot set) and captions CSV."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mobileclip import get_tokenizer, image_transform
from mobileclip.data.datasets import IMAGE_EXTENSIONS, image_files

from .errors import ExportError


# scikit-image ships these photos in its wheel; each is one class of the default zero-shot set
DEFAULT_CLASSES = {
    "astronaut": "an astronaut", "coffee": "a cup of coffee", "chelsea": "a cat", "rocket": "a rocket",
    "camera": "a man with a camera", "coins": "coins", "clock": "a clock", "brick": "a brick wall",
    "grass": "grass", "moon": "the surface of the moon", "hubble_deep_field": "galaxies in space",
    "retina": "a retina", "immunohistochemistry": "stained tissue under a microscope", "colorwheel": "a colour wheel",
}
DEFAULT_CAPTIONS = [
    "a photo of a cat.", "an astronaut in a white space suit.", "a cup of coffee on a saucer.",
    "a rocket on the launch pad.", "a man holding a camera.", "a pile of old coins.", "a clock on the wall.",
    "a red brick wall.", "green grass in the sun.", "the surface of the moon.", "galaxies in deep space.",
    "a dog running on the beach.", "two children playing football in a park.", "a bowl of fresh fruit.",
    "a city street at night with lights.", "a person riding a bicycle down a hill.", "a plate of pasta.",
    "a boat sailing on a calm lake.", "a snowy mountain under a blue sky.", "a black and white photo of a horse.",
    "A woman in a red dress walks past a shop window.", "an old man reading a newspaper on a bench.",
    "a close-up of a flower with a bee.", "a train arriving at the station.", "a laptop on a wooden desk.",
    "a group of people dancing at a wedding.", "a colourful parrot sitting on a branch.",
    "the view from an airplane window.", "a surfer riding a large wave.", "a little girl blowing out candles!",
    "rain drops on a window, \u00e9t\u00e9 \u2600", "a diagram of a cell.",
]


@dataclass
class EvalData:
    """Images (N,3,S,S) normalised, their class labels, class prompt ids, caption ids, calibration images."""

    images: torch.Tensor
    labels: torch.Tensor
    classnames: list[str]
    prompt_ids: torch.Tensor
    caption_ids: torch.Tensor
    calib_images: torch.Tensor
    calib_ids: torch.Tensor
    source: str


def _crops(img, n: int, rng: np.random.Generator, scale=(0.35, 1.0)):
    """n deterministic crops (first = the whole image) with random horizontal flips after the first."""
    from PIL import ImageOps

    w, h = img.size
    out = [img]
    while len(out) < n:
        s = float(np.sqrt(rng.uniform(*scale)))
        cw, ch = max(8, int(w * s)), max(8, int(h * s))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        c = img.crop((x0, y0, x0 + cw, y0 + ch))
        out.append(ImageOps.mirror(c) if rng.random() < 0.5 else c)
    return out


def _sample_photo(name: str):
    from PIL import Image
    import skimage.data

    arr = getattr(skimage.data, name)()
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return Image.fromarray(arr).convert("RGB")


def _read_calibration(path: Path, captions: list[str]) -> tuple[list[str], list[tuple], list, str]:
    """``--calibration DIR`` (or a captions CSV): -> (captions, labelled (image, class) pairs, calibration
    images, source description); ``captions`` (the default) stay when there is no CSV."""
    from PIL import Image

    labelled: list[tuple] = []
    calib_pils = []
    if not path.exists():
        raise ExportError(f"calibration data not found: {path}")
    csv_path = path if path.is_file() else path / "captions.csv"
    if path.is_file() and path.suffix.lower() != ".csv":
        raise ExportError(f"--calibration expects a folder of images or a captions CSV, got {path}")
    if csv_path.is_file():
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows or "caption" not in rows[0]:
            raise ExportError(f"{csv_path}: needs a 'caption' column")
        captions = [r["caption"] for r in rows][:256]
    if path.is_dir():
        files = image_files(path)
        for p in files:
            try:
                im = Image.open(p).convert("RGB")
            except Exception:
                continue
            rel = p.relative_to(path).parts
            if len(rel) > 1 and "images" not in rel[:-1]:
                labelled.append((im, rel[-2]))
            calib_pils.append(im)
        if not calib_pils and not csv_path.is_file():
            raise ExportError(f"{path}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) and no captions.csv")
    source = f"{path} ({len(calib_pils)} images, {len(captions)} captions)"
    return captions, labelled, calib_pils, source


def load_eval_data(preprocess: dict, calibration: str | None = None, per_class: int = 4,
                   n_calib: int = 32, seed: int = 0, context_length: int = 77) -> EvalData:
    """Verification + calibration data.

    Default (``calibration=None``): the scikit-image sample photos, ``per_class`` crops of each (labelled
    by photo), other random crops for calibration, and :data:`DEFAULT_CAPTIONS`.
    ``calibration=DIR``: images under DIR (class = first sub-folder when images sit in sub-folders,
    ImageFolder layout) and captions from ``DIR/captions.csv`` (column ``caption``) or a CSV file given
    directly. Missing pieces come from the default.
    """
    tf = image_transform(preprocess)
    tok = get_tokenizer(context_length)
    rng = np.random.default_rng(seed)
    captions = list(DEFAULT_CAPTIONS)
    source = "embedded default (scikit-image sample photos + built-in captions)"
    labelled: list[tuple] = []
    calib_pils = []
    if calibration is not None:
        captions, labelled, calib_pils, source = _read_calibration(Path(calibration), captions)
    if len({c for _, c in labelled}) < 2:  # no labelled folder structure: default zero-shot set
        labelled = []
        for name in DEFAULT_CLASSES:
            labelled += [(im, name) for im in _crops(_sample_photo(name), per_class, rng)]
    else:  # cap per class to keep verification quick
        by = {}
        for im, c in labelled:
            by.setdefault(c, []).append(im)
        labelled = [(im, c) for c, ims in sorted(by.items()) for im in ims[: max(per_class, 8)]]
    if calib_pils:  # calibrate on images that are not verified, when the folder has them
        held_out = {id(im) for im, _ in labelled}
        rest = [im for im in calib_pils if id(im) not in held_out]
        if rest:
            calib_pils = rest
            source += "; calibration images disjoint from the verification images"
        else:
            source += "; calibration images OVERLAP the verification images (no others in the folder)"
        order = rng.permutation(len(calib_pils))
        calib_pils = [calib_pils[i] for i in order[:n_calib]]
    else:
        for name in DEFAULT_CLASSES:
            calib_pils += _crops(_sample_photo(name), 1 + -(-n_calib // len(DEFAULT_CLASSES)), rng)[1:]
    classnames = sorted({c for _, c in labelled})
    names = {c: DEFAULT_CLASSES.get(c, c.replace("_", " ")) for c in classnames}
    images = torch.stack([tf(im) for im, _ in labelled])
    labels = torch.tensor([classnames.index(c) for _, c in labelled])
    prompts = [f"a photo of {names[c]}." for c in classnames]
    calib = torch.stack([tf(im) for im in calib_pils[:n_calib]])
    caption_ids = tok(captions)
    return EvalData(images=images, labels=labels, classnames=classnames, prompt_ids=tok(prompts),
                    caption_ids=caption_ids, calib_images=calib,
                    calib_ids=torch.cat([caption_ids, tok(prompts)])[:max(n_calib, 8)], source=source)

