"""Precompute the teacher's embeddings once, so KD training runs without the teacher in memory.

MobileCLIP's *dataset reinforcement* idea: the frozen teacher's outputs depend only on the (augmented)
image and the caption, so they can be computed once and reused by every training run. Augmentation in
``mobileclip.train`` is a deterministic function of (seed, variant, sample index), so this command
reproduces exactly the crops (and, for class folders, the prompt templates) training will draw, for
``--variants K`` augmentation variants; training cycles through them (epoch % K).

    python -m mobileclip.cache_teacher --teacher openai/clip-vit-base-patch32 --train-data data/captions.csv \\
        --variants 4 --out data/teacher_cache.pt
    python -m mobileclip.train --train-data data/captions.csv --teacher-cache data/teacher_cache.pt ...

On tar shards ``--out`` is a folder of per-shard sidecars (``NAME.teacher.npz``, see
``mobileclip.training.shard_cache``), built shard by shard (resumable; ``torchrun --nproc-per-node N`` splits the
shards) and streamed by training with ``--teacher-cache FOLDER``, so memory stays flat as the data grows:

    torchrun --nproc-per-node 8 -m mobileclip.cache_teacher --train-data 'shards/part-{000000..000999}.tar' \
        --variants 30 --device cuda --out shards/teacher
    python -m mobileclip.train --train-data 'shards/part-{000000..000999}.tar' --teacher-cache shards/teacher ...

The .pt file holds float16 image and text embeddings ``(variants, samples, dim)`` -- for an ensemble teacher
(``--teacher ensemble:A,B``) each member's own embeddings side by side, ``dim`` their sum --, how the teacher
scores pairs (``scoring``: per member softmax or sigmoid, logit scale and bias) and what it was built from (data
path, sample count, seed, crop scale, the teacher spec); training refuses a cache that does not match its own
data and augmentation settings.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from ..models.tokenizer import get_tokenizer
from ..models.teacher import load_teacher
from ..utils.errors import MobileClipError, cli_errors
from ..utils.fileio import atomic_torch_save
from ..models.options import add_teacher
from ..data.datasets import collate_count
from ..models.tokenizer import trim_padding
from .data import PairTransform, SeededView, build_dataset, is_tar_shards
from .teacher_cache import VERSION, TeacherCache
from ..utils.validate import check_device, check_writable_file

PROG = "python -m mobileclip.cache_teacher"


def blocks(out: dict, tower: str):
    """Each member teacher's own normalised embeddings side by side (one block for a single teacher)."""
    return out.get(f"{tower}_blocks", out[f"{tower}_embeds"])


def teacher_settings(t) -> dict:
    """What a cache records of its teacher: label, canonical spec, scoring and preprocessing."""
    return {"teacher": t.label, "teacher_spec": t.spec, "scoring": t.scoring.to_meta(),
            "teacher_preprocess": dict(t.preprocess_cfg)}


def build_cache(teacher: str, train_data: str, out: str, variants: int = 1, seed: int = 0, batch_size: int = 64,
                crop_scale=(0.9, 1.0), templates: str = "ensemble", workers: int = 0, device: str = "cpu",
                progress: bool = True) -> dict:
    """Encode every sample of ``train_data`` under ``variants`` augmentation variants; write ``out`` atomically."""
    from tqdm import tqdm

    if variants < 1:
        raise MobileClipError("--variants must be >= 1")
    check_writable_file(out, "--out")  # before the teacher runs
    if not Path(train_data).exists():
        raise MobileClipError(f"--train-data {train_data}: no such captions CSV or class folder")
    t = load_teacher(teacher, device=device)
    transform = PairTransform(t.preprocess_cfg, None, train=True, scale=crop_scale)
    base = build_dataset(train_data, transform, get_tokenizer(), templates)
    if not hasattr(base, "__len__"):
        raise MobileClipError("the teacher cache needs a map-style dataset (captions CSV or class folder)")
    n = len(base)
    view = SeededView(base, seed)
    image = torch.zeros(variants, n, t.embed_dim, dtype=torch.float16)
    text = torch.zeros(variants, n, t.embed_dim, dtype=torch.float16)
    covered = torch.zeros(n, dtype=torch.bool)
    t0 = time.time()
    bar = tqdm(total=variants * n, desc=f"teacher cache [{t.label}]", unit="img", disable=not progress)
    for v in range(variants):
        view.variant = v
        batches = [list(range(i, min(n, i + batch_size))) for i in range(0, n, batch_size)]
        loader = torch.utils.data.DataLoader(view, batch_sampler=batches, num_workers=workers,
                                             collate_fn=collate_count)
        for batch, dropped in loader:
            bar.update(len(batch[2]) + dropped if batch is not None else dropped)
            if batch is None:
                continue
            images, ids, idx = batch
            with torch.no_grad():
                out_t = t(images.to(device), trim_padding(ids).to(device))
            image[v, idx] = blocks(out_t, "image").cpu().half()
            text[v, idx] = blocks(out_t, "text").cpu().half()
            if v == 0:
                covered[idx] = True
    bar.close()
    payload = {"format": TeacherCache.FORMAT, "format_version": VERSION, **teacher_settings(t),
               "data": os.path.abspath(str(train_data)), "n": n, "seed": seed, "variants": variants,
               "crop_scale": list(crop_scale), "templates": templates, "logit_scale": float(t.logit_scale()),
               "image_embeds": image, "text_embeds": text, "covered": covered}
    out = Path(out)
    atomic_torch_save(payload, out)
    info = {"path": str(out), "samples": n, "covered": int(covered.sum()), "variants": variants,
            "dim": t.embed_dim, "seconds": time.time() - t0, "bytes": out.stat().st_size}
    if progress:
        print(f"wrote {out}: {info['covered']}/{n} samples x {variants} variant(s), dim {t.embed_dim}, "
              f"{info['bytes'] / 2**20:.1f} MiB, {info['seconds']:.1f} s (teacher {t.label})")
    return info


def build_shard_cache(teacher: str, train_data: str, out_dir: str, variants: int = 1, seed: int = 0,
                      batch_size: int = 64, crop_scale=(0.9, 1.0), device: str = "cpu") -> dict:
    """Per-shard teacher sidecars for tar shards, this process's share (``RANK``/``WORLD_SIZE`` of torchrun:
    shards split ``rank::world_size``); valid sidecars are kept, ones built for other settings refused."""
    from ..data.shards import TarShards
    from .shard_cache import build_shard_sidecars
    from .data import SeededAugment

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    t = load_teacher(teacher, device=device)
    augment = SeededAugment(PairTransform(dict(t.preprocess_cfg), None, train=True, scale=crop_scale), seed)

    def augment_variant(image, variant, index):
        augment.variant = variant
        return augment(image, index)

    def encode(images, ids):
        out = t(images.to(device), trim_padding(ids).to(device))
        return {"image_embeds": blocks(out, "image"), "text_embeds": blocks(out, "text"),
                "logit_scale": out["logit_scale"]}

    settings = {**teacher_settings(t), "seed": seed, "crop_scale": list(crop_scale)}
    shards = TarShards(train_data, None, get_tokenizer())
    res = build_shard_sidecars(shards, encode, augment_variant, settings, variants, out_dir, rank, world, batch_size)
    print(f"rank {rank}/{world}: wrote {len(res['written'])} teacher sidecar(s), kept {len(res['kept'])} valid one(s) "
          f"in {out_dir} (teacher {t.label}, {variants} variant(s))", flush=True)
    return res


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_teacher(p)
    p.add_argument("--train-data", required=True,
                   help="captions CSV, class folder or tar shards (the same as training's)")
    p.add_argument("--out", required=True, help="cache file to write (.pt); for tar shards the folder of the per-shard "
                                                "sidecars (NAME.teacher.npz; run under torchrun to split the shards)")
    p.add_argument("--variants", type=int, default=1, help="augmentation variants K (training uses epoch %% K)")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed: must equal training's --seed")
    p.add_argument("--crop-scale", type=float, nargs=2, default=(0.9, 1.0), metavar=("MIN", "MAX"),
                   help="RandomResizedCrop area range: must equal training's --crop-scale")
    p.add_argument("--templates", default="ensemble", help="prompt templates for class folders (as in training)")
    p.add_argument("--batch-size", type=int, default=64, help="teacher batch size")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.cache_teacher"):
        check_device(args.device, "--device")  # before the teacher loads
        if is_tar_shards(args.train_data):
            return build_shard_cache(args.teacher, args.train_data, args.out, args.variants, args.seed,
                                     args.batch_size, tuple(args.crop_scale), args.device)
        build_cache(args.teacher, args.train_data, args.out, args.variants, args.seed, args.batch_size,
                    tuple(args.crop_scale), args.templates, args.workers, args.device)


if __name__ == "__main__":
    main()
