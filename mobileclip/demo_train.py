"""``make demo`` stage 2: knowledge distillation end to end on generated data, no download.

1. writes the synthetic coloured-shapes dataset (``mobileclip.data.write_synthetic_dataset``) to
   ``OUT/data`` (image-caption CSV for training, class folders for zero-shot);
2. trains a small proxy teacher (an HF ``CLIPModel`` ViT, ``--no-kd``) with ``mobileclip.train`` and saves
   it with ``save_pretrained`` to ``OUT/teacher`` -- unless ``TEACHER`` / ``--teacher`` names a real one
   (``openai/clip-vit-base-patch32`` or a local ``save_pretrained`` folder), which is then used as is;
3. distils the MobileNetV3 + LSRA student from that teacher (three-phase KD) -> ``OUT/student.pt``;
4. evaluates both the same way (zero-shot on the test class folders, image<->text retrieval on the test
   captions, student-teacher agreement) and prints the comparison.

``OUT/student.pt`` is the checkpoint the export stage reads.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import torch
from tabulate import tabulate

from .models.teacher import RANDOM_VIT_B_32, load_teacher
from .models.options import add_model, add_teacher
from .utils.cli import add_threads, set_threads
from .utils.errors import cli_errors
from .utils.fileio import write_json

PROG = "python -m mobileclip.demo_train"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get("TEACHER", "")
    add_teacher(p, default=None if env in ("", RANDOM_VIT_B_32) else env,
                   help="use this teacher instead of training a proxy (hub name or save_pretrained dir; env TEACHER)")
    p.add_argument("--out", default=".cache/demo", help="demo folder (data/, teacher/, student.pt, kd_run/)")
    add_model(p, flag="--student", help="student registry config")
    p.add_argument("--image-size", type=int, default=32, help="student (and proxy teacher) input size")
    p.add_argument("--n-train", type=int, default=1200, help="synthetic training images (2 captions each)")
    p.add_argument("--n-test", type=int, default=240, help="synthetic test images")
    p.add_argument("--teacher-steps", type=int, default=600, help="proxy teacher training steps")
    p.add_argument("--student-steps", type=int, default=160, help="student distillation steps")
    p.add_argument("--batch-size", type=int, default=48, help="batch size (teacher and student)")
    add_threads(p, 1, default_help="default 1: much faster than 2 on a busy 2-core machine")
    p.add_argument("--seed", type=int, default=0, help="seed")
    return p.parse_args(argv)


def _teacher_spec(args, out: Path, common: dict) -> str:
    """``--teacher`` as given, else a proxy teacher trained here (HF CLIPModel 'cpu-vit') -> its folder."""
    from .training.loop import TrainConfig, train

    if args.teacher:
        print(f"[train 2/4] teacher: {args.teacher} (given; no proxy training)", flush=True)
        return args.teacher
    teacher_spec = str(out / "teacher")
    print(f"[train 2/4] training a proxy teacher (HF CLIPModel ViT 'cpu-vit', {args.teacher_steps} steps) "
          f"-> {teacher_spec}", flush=True)
    run_dir = out / "teacher_run"
    shutil.rmtree(run_dir, ignore_errors=True)
    train(TrainConfig(arch="hf-clip", hf_config="cpu-vit", no_kd=True, steps=args.teacher_steps,
                      out=str(run_dir), **common), echo=True)
    shutil.rmtree(teacher_spec, ignore_errors=True)
    os.replace(run_dir / "hf", teacher_spec)
    return teacher_spec


def run(args) -> dict:
    from .data.synthetic import write_synthetic_dataset
    from .evaluation.encoders import kd_heads_from_checkpoint, load_encoder
    from .evaluation.metrics import agreement, retrieval, zero_shot

    set_threads(args.threads)
    t_start = time.time()
    out = Path(args.out)
    data = out / "data"
    print(f"[train 1/4] synthetic dataset -> {data}", flush=True)
    meta = write_synthetic_dataset(data, n_train=args.n_train, n_test=args.n_test, size=64, seed=args.seed)
    train_csv, test_csv = data / meta["files"]["train_captions"], data / meta["files"]["test_captions"]
    test_classes = data / meta["files"]["test_classes"]
    from .training.loop import TrainConfig, train

    common = dict(train_data=str(train_csv), image_size=args.image_size, lr=1e-3, quiet=True, log_every=10,
                  resume="none", seed=args.seed, threads=args.threads, batch_size=args.batch_size,
                  save_every=100000, workers=0)
    teacher_spec = _teacher_spec(args, out, common)
    teacher = load_teacher(teacher_spec)
    print(f"[train 3/4] distilling student {args.student} ({args.image_size} px) from {teacher.label}, "
          f"{args.student_steps} steps", flush=True)
    kd_dir = out / "kd_run"
    shutil.rmtree(kd_dir, ignore_errors=True)
    train(TrainConfig(model=args.student, teacher=teacher_spec, steps=args.student_steps, out=str(kd_dir),
                      **common), echo=True)
    student_path = out / "student.pt"
    shutil.copyfile(kd_dir / "final.pt", student_path.with_suffix(".pt.tmp"))
    os.replace(student_path.with_suffix(".pt.tmp"), student_path)
    print(f"[train 4/4] evaluating teacher and student on {args.n_test} synthetic test images", flush=True)
    student, payload = load_encoder(str(student_path), return_payload=True)
    rows, results = [], {}
    for name, enc in (("teacher", teacher), ("student", student)):
        zs = zero_shot(enc, str(test_classes), templates="single")
        rt = retrieval(enc, str(test_csv))
        results[name] = {"zeroshot_top1": 100 * zs["top1"], "i2t_R@1": 100 * rt["image_to_text"]["R@1"],
                         "t2i_R@1": 100 * rt["text_to_image"]["R@1"]}
        rows.append([f"{name}: {getattr(enc, 'label', name)}", results[name]["zeroshot_top1"],
                     results[name]["i2t_R@1"], results[name]["t2i_R@1"]])
    ag = agreement(student, teacher, str(test_classes), templates="single",
                   kd_heads=kd_heads_from_checkpoint(payload))
    results["agreement"] = {"top1_agreement": 100 * ag["top1_agreement"], "mean_cosine": ag["mean_cosine"]}
    chance = 100 / len(meta["classes"])
    print(f"\nSynthetic shapes test set ({args.n_test} images, {len(meta['classes'])} classes, chance "
          f"{chance:.1f}%; one run, seed {args.seed}, {torch.get_num_threads()} torch threads):\n")
    print(tabulate(rows, headers=["model", "zero-shot top-1 %", "image->text R@1 %", "text->image R@1 %"],
                   floatfmt=".1f", tablefmt="github"))
    print(f"\nstudent-teacher top-1 agreement {results['agreement']['top1_agreement']:.1f}%, mean embedding cosine "
          f"(teacher space) {results['agreement']['mean_cosine']:.3f}; student checkpoint {student_path}; "
          f"stage took {time.time() - t_start:.0f} s")
    write_json(out / "train_results.json", results)
    return results


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.demo_train"):
        return run(args)


if __name__ == "__main__":
    main()
