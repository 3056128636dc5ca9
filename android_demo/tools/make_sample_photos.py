"""Writes the small procedurally drawn photos bundled in app/src/main/assets/photos (and the iOS app's bundle).

They only exist so the search screen works out of the box; index the phone's gallery for real photos.
Run from the repository root: python android_demo/tools/make_sample_photos.py
"""
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (240, 210, 40),
          "white": (245, 245, 245), "black": (20, 20, 20)}
SCENES = [("red", "circle", "blue"), ("green", "square", "white"), ("yellow", "triangle", "black"),
          ("blue", "circle", "yellow"), ("white", "square", "red"), ("black", "triangle", "green")]
OUT = [Path("android_demo/app/src/main/assets/photos"), Path("ios_demo/App/SamplePhotos")]


def draw(fg: str, shape: str, bg: str, size=(160, 120)) -> Image.Image:
    im = Image.new("RGB", size, COLORS[bg])
    d = ImageDraw.Draw(im)
    box = (45, 25, 115, 95)
    if shape == "circle":
        d.ellipse(box, fill=COLORS[fg])
    elif shape == "square":
        d.rectangle(box, fill=COLORS[fg])
    else:
        d.polygon([(80, 20), (120, 98), (40, 98)], fill=COLORS[fg])
    return im


if __name__ == "__main__":
    for folder in OUT:
        folder.mkdir(parents=True, exist_ok=True)
        for fg, shape, bg in SCENES:
            draw(fg, shape, bg).save(folder / f"{fg}_{shape}_on_{bg}.png", optimize=True)
        print(f"wrote {len(SCENES)} photos to {folder}")
