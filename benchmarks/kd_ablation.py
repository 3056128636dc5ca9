"""Proof that knowledge distillation works, on data we have (CIFAR-10 from ../shared/data).

The real ViT-B/32 weights cannot be downloaded here, so the teacher is a *proxy*: a small HF
``CLIPModel`` ViT trained with this repository's own trainer (``--arch hf-clip --no-kd``) on the whole
CIFAR-10 train split (class names in the CLIP prompt templates as captions), written with
``save_pretrained`` and loaded back through ``mobileclip.load_teacher``. Then the MobileNetV3 + LSRA
student (``mnv3l-lsra-512`` at 32 px) is trained twice on a fixed 10% subset, with the same steps,
batches and seed: once distilled from the teacher (three-phase KD), once with the contrastive loss alone
(``--no-kd``). All three are evaluated zero-shot on the CIFAR-10 test split (CLIP prompt ensemble).

    python -m benchmarks.kd_ablation                    # the ablation (prints teacher / KD / no-KD top-1)
    python -m benchmarks.kd_ablation --cache-speed      # training step time: cached vs online ViT-B/32 teacher

Outputs go to ``--out`` (default ``.cache/kd_ablation``): ``teacher/hf`` (proxy teacher), ``kd/``,
``nokd/`` (student runs: final.pt, log.csv), ``results.json``, ``results.png``.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

from mobileclip import RANDOM_VIT_B_32  # (first: torchvision import order)
from mobileclip.models.options import add_model
from mobileclip.utils.cli import add_threads, set_threads
from mobileclip.utils.errors import cli_errors
from mobileclip.utils.fileio import write_json

PROG = "python -m benchmarks.kd_ablation"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".cache/kd_ablation", help="working folder")
    p.add_argument("--data", default=None, help="CIFAR-10 folder with train/ and test/ class folders "
                                                "(default: extract cifar10.tar.gz from ../shared/data)")
    p.add_argument("--teacher-config", default="cpu-vit", help="proxy teacher HF config (train.py presets or JSON)")
    p.add_argument("--teacher-steps", type=int, default=2000, help="proxy teacher training steps")
    p.add_argument("--teacher-batch", type=int, default=64, help="proxy teacher batch size")
    p.add_argument("--teacher-lr", type=float, default=1e-3, help="proxy teacher learning rate")
    p.add_argument("--reuse-teacher", action="store_true", help="reuse OUT/teacher/hf if it exists")
    add_model(p, flag="--student", help="student registry config")
    p.add_argument("--image-size", type=int, default=32, help="student (and teacher) input size")
    p.add_argument("--subset", type=float, default=0.1, help="fraction of CIFAR-10 train the students see")
    p.add_argument("--student-steps", type=int, default=400, help="student training steps (both runs)")
    p.add_argument("--student-batch", type=int, default=64, help="student batch size (both runs)")
    p.add_argument("--student-lr", type=float, default=1e-3, help="student learning rate (both runs)")
    p.add_argument("--seed", type=int, default=0, help="seed (proxy teacher and both student runs)")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate on this many test images (default all)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    add_threads(p, 1, "torch intra-op threads", "default 1: on a small shared CPU, 2 threads contending with other "
                                                "processes were measured 5-30x slower per step than 1")
    p.add_argument("--cache-speed", action="store_true",
                   help="instead: measure a KD training step with the online ViT-B/32-shaped teacher vs the "
                        "precomputed teacher cache (mobileclip.cache_teacher), same run")
    p.add_argument("--speed-steps", type=int, default=10, help="--cache-speed: steps per mode (first 2 not timed)")
    p.add_argument("--speed-batch", type=int, default=16, help="--cache-speed: batch size")
    return p.parse_args(argv)


def _data(args) -> Path:
    if args.data:
        return Path(args.data)
    from mobileclip.data.datasets import extract_shared

    return extract_shared("cifar10.tar.gz")


def _zero_shot_all(args, teacher, out: Path, test_dir: Path, timings: dict) -> dict:
    """3. zero-shot on the test split, same templates for all (percent; eval gives fractions)."""
    from mobileclip.evaluation.encoders import load_encoder
    from mobileclip.evaluation.metrics import zero_shot

    results = {}
    for name, spec in (("teacher", teacher), ("kd", out / "kd" / "final.pt"), ("nokd", out / "nokd" / "final.pt")):
        enc = spec if name == "teacher" else load_encoder(str(spec))
        t0 = time.time()
        r = zero_shot(enc, str(test_dir), templates="ensemble", limit=args.eval_limit)
        timings[f"{name}_eval_s"] = time.time() - t0
        results[name] = {"top1": 100 * r["top1"], "top5": 100 * r["top5"], "n": r["n"]}
    return results


def run_ablation(args) -> dict:
    from tabulate import tabulate

    from mobileclip import load_teacher

    t_start = time.time()
    root = _data(args)
    train_dir, test_dir = root / "train", root / "test"
    out = Path(args.out)
    from mobileclip.training.loop import TrainConfig, train

    common = dict(train_data=str(train_dir), workers=args.workers, image_size=args.image_size, quiet=True,
                  log_every=10, resume="none", seed=args.seed, save_every=100000)
    hf_dir = out / "teacher" / "hf"
    timings = {}
    # 1. proxy teacher
    if not (args.reuse_teacher and (hf_dir / "config.json").is_file()):
        shutil.rmtree(out / "teacher", ignore_errors=True)
        t0 = time.time()
        train(TrainConfig(arch="hf-clip", hf_config=args.teacher_config, no_kd=True, steps=args.teacher_steps,
                          batch_size=args.teacher_batch, lr=args.teacher_lr, out=str(out / "teacher"), **common),
              echo=True)
        timings["teacher_train_s"] = time.time() - t0
    teacher = load_teacher(str(hf_dir))  # the normal loader: proves the save_pretrained round trip
    # 2. two students, same subset / steps / seed
    student = TrainConfig(model=args.student, train_subset=args.subset, steps=args.student_steps,
                          batch_size=args.student_batch, lr=args.student_lr, **common)
    for name, changes in (("kd", {"teacher": str(hf_dir)}), ("nokd", {"no_kd": True})):
        shutil.rmtree(out / name, ignore_errors=True)
        t0 = time.time()
        train(student.replace(out=str(out / name), **changes), echo=True)
        timings[f"{name}_train_s"] = time.time() - t0
    results = _zero_shot_all(args, teacher, out, test_dir, timings)
    rows = [["proxy teacher (HF CLIPModel ViT, " + args.teacher_config + f", {args.teacher_steps} steps, full train)",
             results["teacher"]["top1"], results["teacher"]["top5"]],
            [f"student {args.student} KD ({args.subset:.0%} subset, {args.student_steps} steps)",
             results["kd"]["top1"], results["kd"]["top5"]],
            [f"student {args.student} no-KD ({args.subset:.0%} subset, {args.student_steps} steps)",
             results["nokd"]["top1"], results["nokd"]["top5"]]]
    gain = results["kd"]["top1"] - results["nokd"]["top1"]
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}"
    print(f"\nCIFAR-10 test zero-shot (CLIP prompt ensemble, n={results['teacher']['n']}; {machine}; "
          f"one run, seed {args.seed}):\n")
    print(tabulate(rows, headers=["model", "top-1 %", "top-5 %"], floatfmt=".2f", tablefmt="github"))
    print(f"\nKD - no-KD: {gain:+.2f} top-1 points (goal: >= +5). Total {time.time() - t_start:.0f} s.")
    summary = {"results": results, "kd_minus_nokd_top1": gain, "args": vars(args), "timings_s": timings,
               "machine": machine, "command": f"{PROG} " + " ".join(sys.argv[1:])}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", summary)
    _plot(results, out / "results.png")
    print(f"wrote {out / 'results.json'} and {out / 'results.png'}")
    return summary


def _plot(results: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["proxy teacher", "student KD", "student no-KD"]
    vals = [results["teacher"]["top1"], results["kd"]["top1"], results["nokd"]["top1"]]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bars = ax.bar(names, vals, color=["#666", "#2a7", "#c63"])
    ax.axhline(10, ls="--", c="k", lw=0.8, label="chance (10%)")
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v + 0.5, f"{v:.1f}", ha="center")
    ax.set_ylabel("CIFAR-10 zero-shot top-1 (%)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_cache_speed(args) -> dict:
    """Same process, same data: N KD steps with the online ViT-B/32-shaped teacher, then N with the cache."""
    from mobileclip.training.cache_teacher import build_cache
    from mobileclip.data.synthetic import write_synthetic_dataset

    out = Path(args.out) / "cache_speed"
    data = out / "data"
    write_synthetic_dataset(data, n_train=args.speed_batch * 4, n_test=0, size=64, seed=0)
    csv_path = data / "captions.csv"
    from mobileclip.training.loop import TrainConfig, train

    common = TrainConfig(train_data=str(csv_path), model=args.student, steps=args.speed_steps,
                         batch_size=args.speed_batch, align_steps=0, distil_steps=0, seed=0, resume="none",
                         quiet=True, save_every=100000, workers=0)
    online = train(common.replace(teacher=RANDOM_VIT_B_32, out=str(out / "online")), echo=True)
    t0 = time.time()
    build_cache(RANDOM_VIT_B_32, str(csv_path), str(out / "teacher_cache.pt"), variants=1, seed=0,
                batch_size=args.speed_batch)
    cache_build = time.time() - t0
    cached = train(common.replace(teacher_cache=str(out / "teacher_cache.pt"), out=str(out / "cached")),
                   echo=True)
    ratio = online["mean_step_time_s"] / cached["mean_step_time_s"]
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}"
    print(f"\nKD training step, student {args.student} (224 px), batch {args.speed_batch}, joint phase "
          f"(all KD terms), mean of {args.speed_steps - 2} steps after 2 warm-up ({machine}):")
    print(f"  online ViT-B/32-shaped teacher (vit-b-32-random): {online['mean_step_time_s'] * 1e3:.0f} ms/step")
    print(f"  cached teacher embeddings:                        {cached['mean_step_time_s'] * 1e3:.0f} ms/step")
    print(f"  speed-up: {ratio:.2f}x (goal >= 3x); building the cache took {cache_build:.1f} s "
          f"({len(open(csv_path).readlines()) - 1} samples, 1 augmentation variant)")
    res = {"online_ms": online["mean_step_time_s"] * 1e3, "cached_ms": cached["mean_step_time_s"] * 1e3,
           "speedup": ratio, "cache_build_s": cache_build, "batch": args.speed_batch, "machine": machine}
    write_json(out / "cache_speed.json", res)
    return res


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    with cli_errors("benchmarks.kd_ablation"):
        if args.cache_speed:
            return run_cache_speed(args)
        return run_ablation(args)


if __name__ == "__main__":
    main()
