"""``make demo``: the whole pipeline on an embedded default, no download.

Stage 1 (foundation): build the students and the ViT-B/32-shaped teacher, tokenise prompts, embed
the sample photos that ship inside scikit-image, save and reload a checkpoint, print parameters.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from tabulate import tabulate

from .models.factory import DEFAULT_MODEL, create_model
from .models.teacher import RANDOM_VIT_B_32, load_teacher
from .models.tokenizer import get_tokenizer
from .models.transform import image_transform
from .models.checkpoint import load_checkpoint, save_checkpoint
from .models.model import tower_parameters
from .models.options import add_teacher
from .utils.errors import cli_errors

SAMPLE_IMAGES = {"astronaut": "an astronaut", "coffee": "a cup of coffee", "chelsea": "a cat",
                 "rocket": "a rocket", "horse": "a horse"}


def sample_images() -> dict:
    """Named PIL images from scikit-image's bundled data (shipped in its wheel, no download)."""
    from PIL import Image
    import skimage.data

    out = {}
    for name in SAMPLE_IMAGES:
        arr = getattr(skimage.data, name)()
        out[name] = Image.fromarray(arr).convert("RGB")
    return out


def parameter_table(students: dict, teacher) -> str:
    t = tower_parameters(teacher)
    rows = [[f"teacher: {teacher.label}", t["image"] / 1e6, t["text"] / 1e6, t["total"] / 1e6, "100.0%", "—"]]
    for name, model in students.items():
        p = tower_parameters(model)
        rows.append([f"student: {name}", p["image"] / 1e6, p["text"] / 1e6, p["total"] / 1e6,
                     f"{100 * p['total'] / t['total']:.1f}%", f"{100 * (1 - p['total'] / t['total']):.1f}%"])
    return tabulate(rows, headers=["model", "image (M)", "text (M)", "total (M)", "of teacher", "reduction"],
                    floatfmt=".2f", tablefmt="github")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m mobileclip.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_teacher(p, default=os.environ.get("TEACHER", RANDOM_VIT_B_32),
                help="teacher: hub name, save_pretrained dir, or vit-b-32-random (default; env TEACHER)")
    p.add_argument("--models", default=f"{DEFAULT_MODEL},mnv3l-lsra-256", help="comma-separated student configs")
    p.add_argument("--out", default=".cache/demo", help="working folder (checkpoints, artifacts)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.demo"):
        run(args)


def run(args):
    torch.manual_seed(0)
    out = Path(args.out)
    tok = get_tokenizer()
    print(f"[1/4] building students {args.models} and teacher {args.teacher}")
    students = {name: create_model(name).eval() for name in args.models.split(",")}
    teacher = load_teacher(args.teacher)
    images = sample_images()
    prompts = [f"a photo of {c}." for c in SAMPLE_IMAGES.values()]
    ids = tok(prompts)
    print(f"[2/4] tokenised {len(prompts)} prompts, e.g. {prompts[0]!r} -> {ids[0][: int((ids[0] != 0).sum())].tolist()}")
    print(f"[3/4] embedding {len(images)} scikit-image sample photos ({', '.join(images)})")
    for name, model in {**students, f"teacher ({teacher.label})": teacher}.items():
        tf = image_transform(model.preprocess_cfg)
        x = torch.stack([tf(im) for im in images.values()])
        with torch.no_grad():
            t0 = time.perf_counter()
            img, txt = model.encode_image(x), model.encode_text(ids)
            dt = time.perf_counter() - t0
        top1 = (img @ txt.T).argmax(-1)
        hits = (top1 == torch.arange(len(images))).sum().item()
        print(f"      {name}: image {tuple(img.shape)} from {x.shape[-1]} px, text {tuple(txt.shape)} in "
              f"{dt * 1e3:.0f} ms (times of different resolutions: not a speed-up); "
              f"photo->prompt top-1 {hits}/{len(images)} (untrained: chance level expected)")
    name, model = next(iter(students.items()))
    ckpt = save_checkpoint(model, out / f"{name}-init.pt")
    again = load_checkpoint(ckpt)
    with torch.no_grad():
        same = torch.equal(model.encode_text(ids), again.encode_text(ids))
    print(f"[4/4] checkpoint {ckpt} ({ckpt.stat().st_size / 2**20:.1f} MiB) reloaded: identical outputs = {same}")
    if not same:
        raise SystemExit("checkpoint round-trip changed the outputs")
    print("\nParameters (counted from the built modules):\n")
    print(parameter_table(students, teacher))


if __name__ == "__main__":
    main()
