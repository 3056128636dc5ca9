"""Training throughput (samples/s) of ``mobileclip.train``: online teacher, cached teacher, no teacher, per precision.

    python -m benchmarks.train_speed                          # default student at 224 px, batch 16, this machine
    python -m benchmarks.train_speed --device cuda --batch-size 128 --steps 20 --out .cache/train_speed

Each configuration is one real ``train(cfg)`` run in the joint phase (every KD term active; ``--no-kd`` for
"no teacher": the contrastive loss alone) on synthetic images, from a fresh start, with the ViT-B/32-shaped
random teacher (``vit-b-32-random``: the real teacher's compute, no download). The cached teacher is built
once per run of this command with ``mobileclip.cache_teacher`` (1 augmentation variant; its build time is
reported, not counted). samples/s = batch size / the run's mean step time (forward, backward and optimizer
step; data loading excluded), over the steps after 2 warm-up steps. Precisions: ``fp32`` and ``amp_bf16``,
plus ``amp`` (fp16) on CUDA.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from mobileclip import RANDOM_VIT_B_32  # (first: torchvision import order)
from mobileclip.models.options import add_model, add_teacher
from mobileclip.utils.cli import add_output_args, add_threads, default_paths, set_threads
from mobileclip.utils.errors import MobileClipError, cli_errors

from .common import machine_info, machine_line, write_outputs

PROG = "python -m benchmarks.train_speed"
SOURCES = ("online", "cached", "none")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model(p)
    add_teacher(p, default=RANDOM_VIT_B_32)
    p.add_argument("--image-size", type=int, default=None, help="student input size (default: the model's)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--steps", type=int, default=6, help="training steps per configuration (>= 3: 2 are warm-up)")
    p.add_argument("--batch-size", type=int, default=16, help="batch size")
    p.add_argument("--precisions", nargs="+", default=None, choices=["fp32", "amp", "amp_bf16"],
                   help="default: fp32 amp_bf16, and amp on CUDA")
    add_threads(p)
    add_output_args(p, "train_speed")
    args = p.parse_args(argv)
    if args.steps < 3:
        p.error("--steps must be >= 3 (the first 2 steps are warm-up)")
    if args.batch_size < 2:
        p.error("--batch-size must be >= 2 (contrastive terms need negatives)")
    return args


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MobileClipError(f"--device {spec}: CUDA is not available here")
    return device


def _machine(device: torch.device) -> dict:
    extra = {"threads": torch.get_num_threads()}
    if device.type == "cuda":
        extra["gpu"] = torch.cuda.get_device_name(device)
    return machine_info(**extra)


def _configs(args, device: torch.device, work: Path):
    """``(precision, source, TrainConfig)`` of every run, the data written and the cache built first."""
    from mobileclip.training.cache_teacher import build_cache
    from mobileclip.data.synthetic import write_synthetic_dataset
    from mobileclip.training.loop import TrainConfig

    write_synthetic_dataset(work / "data", n_train=args.batch_size, n_test=0, size=64, seed=0)
    csv_path = work / "data" / "captions.csv"  # two captions per image: 2 x batch rows
    t0 = time.perf_counter()
    build_cache(args.teacher, str(csv_path), str(work / "teacher_cache.pt"), variants=1, seed=0,
                batch_size=args.batch_size, device=str(device), progress=False)
    cache_build_s = time.perf_counter() - t0
    precisions = args.precisions or ["fp32", "amp_bf16"] + (["amp"] if device.type == "cuda" else [])
    base = TrainConfig(train_data=str(csv_path), model=args.model, image_size=args.image_size, steps=args.steps,
                       batch_size=args.batch_size, align_steps=0, distil_steps=0, seed=0, resume="none", quiet=True,
                       save_every=10**9, bn_recalibrate=0, workers=0, device=str(device), teacher=args.teacher)
    runs = []
    for prec in precisions:
        for source in SOURCES:
            cfg = base.replace(precision=prec, out=str(work / f"{prec}-{source}"))
            if source == "cached":
                cfg = cfg.replace(teacher_cache=str(work / "teacher_cache.pt"))
            elif source == "none":
                cfg = cfg.replace(no_kd=True)
            runs.append((prec, source, cfg))
    return runs, cache_build_s


def measure(args) -> dict:
    """Every configuration's mean step time and samples/s."""
    from mobileclip.training.loop import train

    from mobileclip.training.precision import precision_for

    device = _device(args.device)
    for prec in args.precisions or []:
        try:
            precision_for(prec, device)
        except ValueError as e:
            raise MobileClipError(str(e)) from None
    rows = []
    with tempfile.TemporaryDirectory(prefix="train_speed-") as tmp:
        runs, cache_build_s = _configs(args, device, Path(tmp))
        for prec, source, cfg in runs:
            summary = train(cfg)
            step_s = summary["mean_step_time_s"]
            rows.append({"precision": prec, "teacher": source, "mean_step_time_s": step_s,
                         "samples_per_s": args.batch_size / step_s})
            print(f"{prec:>8} {source:>7} teacher: {args.batch_size / step_s:8.1f} samples/s "
                  f"({step_s * 1e3:.0f} ms/step)", flush=True)
    return {"student": args.model, "image_size": args.image_size, "teacher": args.teacher,
            "batch_size": args.batch_size, "steps": args.steps, "warmup_steps": 2, "device": str(device),
            "cache_build_s": cache_build_s, "rows": rows, "machine": _machine(device)}


def markdown(result: dict) -> str:
    size = result["image_size"] or "its default size"
    lines = [f"Training throughput: student `{result['student']}` at {size}, teacher `{result['teacher']}`, "
             f"batch {result['batch_size']}, joint phase, on {result['device']}"
             + (f" ({result['machine']['gpu']})" if "gpu" in result["machine"] else "")
             + f"; mean of {result['steps'] - 2} steps after 2 warm-up.", "",
             "| precision | online teacher | cached teacher | no teacher |", "| --- | ---: | ---: | ---: |"]
    by = {(r["precision"], r["teacher"]): r["samples_per_s"] for r in result["rows"]}
    for prec in dict.fromkeys(r["precision"] for r in result["rows"]):
        lines.append(f"| {prec} | " + " | ".join(f"{by[(prec, s)]:.1f}" for s in SOURCES) + " |")
    lines += ["", "samples/s. Building the teacher cache took "
              f"{result['cache_build_s']:.1f} s (not counted).", "", machine_line(result["machine"])]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    with cli_errors("benchmarks.train_speed"):
        result = measure(args)
        md = markdown(result)
        print("\n" + md, flush=True)
        for path in write_outputs(result, md, *default_paths(args.out, "train_speed", args.json, args.md)):
            print(f"wrote {path}", file=sys.stderr, flush=True)
        return result


if __name__ == "__main__":
    main()
