"""The procedurally generated demo dataset (coloured shapes with captions): ``write_synthetic_dataset``.
``python -m mobileclip.data synth`` runs it."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..utils.errors import MobileClipError
from ..utils.fileio import dumps_json

# ----------------------------------------------------------------------------------------------------------
# synthetic demo dataset
# ----------------------------------------------------------------------------------------------------------
SHAPES = ["circle", "square", "triangle", "star", "cross", "diamond", "ring", "crescent"]
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (40, 70, 220), "yellow": (240, 220, 40),
           "orange": (245, 140, 20), "purple": (140, 50, 180), "white": (245, 245, 245), "black": (20, 20, 20)}
BACKGROUNDS = {"grey": (128, 128, 128), "pink": (240, 170, 190), "brown": (120, 80, 40),
               "cyan": (90, 200, 210), "dark blue": (20, 30, 90), "light green": (170, 230, 160)}
SIZES = {"small": (0.36, 0.46), "medium": (0.5, 0.62), "large": (0.66, 0.8)}
SYNTH_VERSION = 4
# each shape's typical colour: with probability ``colour_bias`` a shape is drawn in it (else any colour), so a
# model trained for a few CPU minutes gets a quick colour cue before it learns shapes (which takes epochs)
SHAPE_COLOUR = dict(zip(SHAPES, COLOURS))


def _shape_polygon(shape, cx, cy, r, angle):
    """Outline points of a shape of radius ``r`` at (cx, cy), rotated by ``angle`` radians."""
    def rot(points):
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]

    if shape == "square":
        return rot([(-r * .8, -r * .8), (r * .8, -r * .8), (r * .8, r * .8), (-r * .8, r * .8)])
    if shape == "diamond":
        return rot([(0, -r), (r * .7, 0), (0, r), (-r * .7, 0)])
    if shape == "triangle":
        return rot([(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    if shape == "star":
        pts = []
        for k in range(10):
            rr = r if k % 2 == 0 else r * 0.42
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((rr * math.cos(a), rr * math.sin(a)))
        return rot(pts)
    if shape == "cross":
        w = r * 0.33
        return rot([(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w),
                    (-r, -w), (-w, -w)])
    raise ValueError(shape)


def draw_shape_image(rng: np.random.Generator, size: int, shape: str, colour: str, background: str,
                     size_word: str):
    """One synthetic image: a textured background and one shape (drawn at 4x, downsampled: anti-aliased)."""
    from PIL import Image, ImageDraw

    ss = 4
    S = size * ss
    bg = np.array(BACKGROUNDS[background], dtype=np.float32)
    # background: base colour + a soft gradient + pixel noise, so colour is not a single constant
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    g = rng.uniform(-25, 25, size=2)
    base = bg[None, None] + (g[0] * (xx - .5) + g[1] * (yy - .5))[..., None]
    base = base + rng.normal(0, 8, size=(S // ss, S // ss, 3)).repeat(ss, 0).repeat(ss, 1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    mask = Image.new("L", (S, S), 0)  # the shape is drawn into a mask, then filled over the textured background
    draw = ImageDraw.Draw(mask)
    fg = tuple(int(np.clip(c + rng.uniform(-15, 15), 0, 255)) for c in COLOURS[colour])
    lo, hi = SIZES[size_word]
    r = rng.uniform(lo, hi) * S / 2
    cx, cy = rng.uniform(r, S - r), rng.uniform(r, S - r)
    angle = rng.uniform(-0.3, 0.3)
    if shape in ("circle", "ring", "crescent"):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        if shape == "ring":
            ri = r * 0.55
            draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
        elif shape == "crescent":
            a = rng.uniform(0, 2 * math.pi)
            dx, dy = r * 0.55 * math.cos(a), r * 0.55 * math.sin(a)
            draw.ellipse([cx - r + dx, cy - r + dy, cx + r + dx, cy + r + dy], fill=0)
    else:
        draw.polygon(_shape_polygon(shape, cx, cy, r, angle), fill=255)
    img.paste(Image.new("RGB", (S, S), fg), (0, 0), mask)
    where = ("top" if cy < S / 3 else "bottom" if cy > 2 * S / 3 else "middle",
             "left" if cx < S / 3 else "right" if cx > 2 * S / 3 else "centre")
    return img.resize((size, size), Image.LANCZOS), where


def _position_words(where) -> str:
    v, h = where
    if v == "middle" and h == "centre":
        return "in the centre"
    if v == "middle":
        return f"on the {h}"
    if h == "centre":
        return f"at the {v}"
    return f"in the {v} {h}"


def synthetic_captions(shape, colour, background, size_word, where) -> list[str]:
    """Two captions: colours, and shape/size/position only. Without the colour words the second caption can
    only be matched through the shape, so a contrastive model has to learn shapes, not just colours."""
    return [f"a {colour} {shape} on a {background} background",
            f"a photo of a {size_word} {shape} {_position_words(where)}"]


def _foreign_files(out_dir: Path, meta: dict) -> list[Path]:
    """What ``out_dir`` holds beyond the files and folders an earlier :func:`write_synthetic_dataset` wrote there
    (described by its ``synthetic.json`` ``meta``): ``--force`` may replace only a folder without any."""
    classes = "|".join(re.escape(str(c)) for c in meta.get("classes", []) if isinstance(c, str)) or "(?!)"
    own = re.compile(rf"^(captions\.csv|captions_test\.csv|synthetic\.json|images(/(train|test)(/(train|test)_\d{{6}}\.jpg)?)?"
                     rf"|classes(/(train|test)(/({classes})(/(train|test)_\d{{6}}\.jpg)?)?)?)$")
    foreign = sorted(p for p in out_dir.rglob("*") if not own.match(p.relative_to(out_dir).as_posix())
                     or p.is_symlink() or (p.is_file() != p.name.endswith((".jpg", ".csv", ".json"))))
    as_set = set(foreign)
    return [p for p in foreign if not any(q in as_set for q in p.parents)]  # a foreign folder, not its contents


def _check_replaceable(out_dir: Path, meta_path: Path) -> None:
    """``--force`` on an existing folder: only an earlier synthetic dataset with nothing else in it is replaced."""
    if not out_dir.is_dir():
        raise MobileClipError(f"{out_dir} exists and is not a folder")
    if not any(out_dir.iterdir()):
        return
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise MobileClipError(f"{out_dir} is not empty and holds no readable synthetic.json: refusing to replace it")
    foreign = _foreign_files(out_dir, meta)
    if foreign:
        names = ", ".join(str(p.relative_to(out_dir)) for p in foreign[:3])
        raise MobileClipError(f"{out_dir} holds {len(foreign)} file(s) or folder(s) this command did not write "
                              f"({names}{', ...' if len(foreign) > 3 else ''}); refusing to replace the folder: move "
                              f"them out or choose another --out")


def _existing(out_dir: Path, params: dict, overwrite: bool) -> dict | None:
    """The metadata of the same dataset already in ``out_dir`` (reused), else None; refuses to replace a folder
    that is another dataset (without ``overwrite``) or not a synthetic dataset at all."""
    meta_path = out_dir / "synthetic.json"
    if out_dir.exists() and not overwrite:
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            old = None
        if old is not None and old.get("params") == params:
            return old
        raise MobileClipError(f"{out_dir} exists and is not this synthetic dataset ({params}); "
                              f"pass overwrite=True (--force) or choose another folder")
    if overwrite and out_dir.exists():
        _check_replaceable(out_dir, meta_path)  # nothing but an earlier dataset of ours is ever deleted
    return None


def _write_split(tmp: Path, split: str, n: int, rng, size: int, colour_bias: float) -> dict:
    """Draw the ``n`` images of ``split`` into ``tmp`` (images, class-folder links, caption CSV) -> its counts."""
    from tqdm import tqdm

    (tmp / "images" / split).mkdir(parents=True)
    for shape in SHAPES:
        (tmp / "classes" / split / shape).mkdir(parents=True)
    rows = []
    for i in tqdm(range(n), desc=f"synthetic {split}", unit="img", mininterval=1.0):
        shape = SHAPES[i % len(SHAPES)]  # balanced classes
        colour = SHAPE_COLOUR[shape] if rng.random() < colour_bias else str(rng.choice(list(COLOURS)))
        background = str(rng.choice(list(BACKGROUNDS)))
        size_word = str(rng.choice(list(SIZES)))
        img, where = draw_shape_image(rng, size, shape, colour, background, size_word)
        rel = f"images/{split}/{split}_{i:06d}.jpg"
        img.save(tmp / rel, quality=92)
        link = tmp / "classes" / split / shape / f"{split}_{i:06d}.jpg"
        try:
            os.link(tmp / rel, link)
        except OSError:
            shutil.copyfile(tmp / rel, link)
        rows += [(rel, c) for c in synthetic_captions(shape, colour, background, size_word, where)]
    name = "captions.csv" if split == "train" else "captions_test.csv"
    with open(tmp / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return {"images": n, "captions": len(rows)}


def write_synthetic_dataset(out_dir, n_train: int = 2000, n_test: int = 400, size: int = 64, seed: int = 0,
                            overwrite: bool = False, colour_bias: float = 0.8) -> dict:
    """Coloured shapes on textured backgrounds, two captions per image, 8 shape classes.

    Writes (atomically: temp folder + rename) ``out_dir/captions.csv`` (train; ``image,caption``, two rows
    per image), ``captions_test.csv`` (test), ``images/{train,test}/*.jpg``, class folders
    ``classes/{train,test}/<shape>/`` for zero-shot (hard links to the same files) and ``synthetic.json``
    (parameters, classes, counts). The class is the shape (``circle``, ``square``, ...; reads well in
    "a photo of a {}."); colour, background, size, position and rotation vary. With probability
    ``colour_bias`` a shape gets its typical colour (``SHAPE_COLOUR``: circles red, squares green, ...),
    otherwise a uniformly random one: colour alone then predicts the class for about
    ``colour_bias + (1 - colour_bias) / 8`` of the images, shape for all of them. Learning shapes from
    scratch takes a small CNN ~20 epochs; the colour cue makes minutes of CPU training show a signal. An existing dataset with
    the same parameters is reused; ``overwrite=True`` regenerates it, in a folder that holds nothing but an
    earlier synthetic dataset (anything else there is refused, never deleted)."""
    out_dir = Path(out_dir)
    params = {"version": SYNTH_VERSION, "n_train": n_train, "n_test": n_test, "size": size, "seed": seed,
              "colour_bias": colour_bias}
    old = _existing(out_dir, params, overwrite)
    if old is not None:
        return old
    if n_train < 0 or n_test < 0 or n_train + n_test == 0 or size < 8:
        raise MobileClipError(f"bad synthetic dataset size: n_train={n_train} n_test={n_test} size={size}")
    if not 0.0 <= colour_bias <= 1.0:
        raise MobileClipError(f"colour_bias must be in [0, 1], got {colour_bias}")
    rng = np.random.default_rng(seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        counts = {split: _write_split(tmp, split, n, rng, size, colour_bias)
                  for split, n in (("train", n_train), ("test", n_test))}
        meta = {"params": params, "classes": SHAPES, "colours": list(COLOURS), "backgrounds": list(BACKGROUNDS),
                "shape_colour": SHAPE_COLOUR,
                "counts": counts, "files": {"train_captions": "captions.csv", "test_captions": "captions_test.csv",
                                            "train_classes": "classes/train", "test_classes": "classes/test"}}
        (tmp / "synthetic.json").write_text(dumps_json(meta, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta
