"""Accuracy side by side: the teacher, the student (PyTorch fp32) and the student's exported models run in
their own runtimes (ExecuTorch / LiteRT, int8 by default) — same images, same prompts, one table.

Zero-shot top-1/top-5 on a class-folder set (default: the CIFAR-10 test split extracted from
``../shared/data/cifar10.tar.gz``), image<->text retrieval R@1/5/10 on an ``image,caption`` CSV (default:
the Flickr8k subset), and agreement with the teacher (top-1 agreement; mean cosine of the student's
embeddings mapped into the teacher's space through the checkpoint's KD heads). Uses
``mobileclip.eval`` for the metrics and ``export.runtime.load_exported`` for the exported models. The
table names the teacher (random-weight teachers are flagged: their accuracy means nothing).

Example:
  python -m benchmarks.accuracy .cache/demo/student.pt --teacher .cache/demo/teacher \\
      --export .cache/demo/export --limit 500 --retrieval-limit 100 --out .cache/bench
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tabulate import tabulate

from mobileclip import MobileClipError
from mobileclip.models.options import add_teacher
from mobileclip.utils.cli import add_output_args, add_threads, set_threads
from .common import machine_info, machine_line, run_and_write, split_list

PROG = "python -m benchmarks.accuracy"
EXPORT_BACKENDS = ("executorch", "tflite", "coreml")


def default_zeroshot() -> Path:
    from mobileclip.data.datasets import extract_shared

    return extract_shared("cifar10.tar.gz") / "test"


def default_retrieval() -> Path:
    from mobileclip.data.datasets import extract_shared

    return extract_shared("flickr8k_subset.tar.gz") / "captions.csv"


def exported_encoders(export_dir: str, backends, quantization: str, skipped: list) -> list[tuple[str, str, object]]:
    """(runtime, precision, encoder) for each backend of the export folder that runs here."""
    try:
        from export.runtime import list_exported, load_exported
    except ImportError as e:
        skipped.append({"what": f"exported models in {export_dir}", "reason": f"export.runtime unavailable ({e})"})
        return []
    available = {(e["backend"], e["quantization"]) for e in list_exported(export_dir)}
    out = []
    for backend in backends:
        towers = [q for b, q in available if b == backend]
        if quantization not in towers:
            skipped.append({"what": f"{backend} {quantization}", "reason": f"not in {export_dir}/manifest.json"})
            continue
        try:
            enc = load_exported(export_dir, backend, quantization=quantization)
        except MobileClipError as e:  # e.g. Core ML off macOS: BackendMissingError
            skipped.append({"what": f"{backend} {quantization}", "reason": str(e)})
            continue
        out.append(({"tflite": "litert"}.get(backend, backend), quantization, enc))
    return out


def run(args) -> dict:
    from mobileclip.evaluation.encoders import encoder_label, kd_heads_from_checkpoint, load_encoder
    from mobileclip.evaluation.metrics import agreement_from_images, retrieval, zero_shot_images, zero_shot_scores

    set_threads(args.threads)
    zs_root = Path(args.zeroshot) if args.zeroshot else default_zeroshot()
    csv = None if args.no_retrieval else Path(args.retrieval) if args.retrieval else default_retrieval()
    if not zs_root.is_dir():
        raise MobileClipError(f"--zeroshot: {zs_root} is not a folder")
    if csv is not None and not csv.is_file():
        raise MobileClipError(f"--retrieval: {csv} is not a file")
    backends = split_list(args.backends)
    bad = [b for b in backends if b not in EXPORT_BACKENDS]
    if bad:
        raise MobileClipError(f"unknown backend(s) {', '.join(bad)}; choose from {', '.join(EXPORT_BACKENDS)}")
    progress = not args.no_progress

    teacher = load_encoder(args.teacher)
    student, payload = load_encoder(args.student, return_payload=True)
    if payload is None:
        raise MobileClipError(f"{args.student} is not a student checkpoint (.pt)")
    heads = kd_heads_from_checkpoint(payload)
    skipped: list = []
    models = [("teacher", encoder_label(teacher), "PyTorch eager", "fp32", teacher),
              ("student", encoder_label(student), "PyTorch eager", "fp32", student)]
    if args.export:
        for runtime, precision, enc in exported_encoders(args.export, backends, args.quantization, skipped):
            models.append(("student", encoder_label(student), runtime, precision, enc))

    rows, teacher_zs = [], None
    for kind, label, runtime, precision, enc in models:
        print(f"[{kind}: {label} | {runtime} {precision}]")
        zs = zero_shot_images(enc, zs_root, args.batch_size, args.limit, progress=progress)
        scores = zero_shot_scores(zs, args.templates)
        row = {"kind": kind, "model": label, "runtime": runtime, "precision": precision,
               "zeroshot": {k: scores[k] for k in ("top1", "top5", "n", "n_classes", "n_templates", "skipped")}}
        if csv is not None:
            row["retrieval"] = retrieval(enc, csv, args.batch_size, args.retrieval_limit, progress=progress)
        if kind == "teacher":
            teacher_zs = zs
        else:
            ag = agreement_from_images(zs, teacher_zs, args.templates, heads)
            row["agreement"] = {k: ag[k] for k in ("top1_agreement", "mean_cosine_image", "mean_cosine_text",
                                                   "space", "n")}
        rows.append(row)
    return {"benchmark": "accuracy",
            "machine": machine_info(threads=torch.get_num_threads(), limit=args.limit),
            "teacher": encoder_label(teacher), "teacher_random_weights": bool(getattr(teacher, "random_weights", False)),
            "student_checkpoint": str(args.student), "export": args.export,
            "zeroshot_dataset": str(zs_root), "templates": args.templates,
            "retrieval_dataset": str(csv) if csv else None, "retrieval_limit": args.retrieval_limit,
            "kd_heads": heads is not None, "results": rows, "skipped": skipped}


def to_markdown(result: dict) -> str:
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}"  # noqa: E731
    rows = []
    for r in result["results"]:
        zs, rt, ag = r["zeroshot"], r.get("retrieval"), r.get("agreement")
        rows.append([r["kind"], r["model"], r["runtime"], r["precision"], pct(zs["top1"]), pct(zs["top5"]),
                     *([pct(rt["text_to_image"][k]) for k in ("R@1", "R@5", "R@10")] +
                       [pct(rt["image_to_text"][k]) for k in ("R@1", "R@5", "R@10")] if rt else ["—"] * 6),
                     pct(ag["top1_agreement"]) if ag else "—",
                     f"{ag['mean_cosine_image']:.3f}" if ag and ag["mean_cosine_image"] is not None else "—"])
    first = result["results"][0]
    rt = first.get("retrieval")
    lines = ["# Accuracy", "",
             f"Teacher: **{result['teacher']}**" + (" — random weights, its accuracy is meaningless."
                                                    if result["teacher_random_weights"] else "."), "",
             tabulate(rows, headers=["", "model", "runtime", "precision", "zero-shot top-1 %", "top-5 %",
                                     "T→I R@1", "R@5", "R@10", "I→T R@1", "R@5", "R@10",
                                     "top-1 agreement %", "image cosine vs teacher"], tablefmt="github",
                      disable_numparse=True), "",
             f"Zero-shot: `{result['zeroshot_dataset']}`, {first['zeroshot']['n']} images, "
             f"{first['zeroshot']['n_classes']} classes, templates '{result['templates']}' "
             f"({first['zeroshot']['n_templates']} prompts per class)."]
    if rt:
        lines.append(f"Retrieval: `{result['retrieval_dataset']}`, {rt['n_images']} images, {rt['n_captions']} "
                     "captions (T→I: text→image, I→T: image→text).")
    lines.append("Agreement: share of images where student and teacher predict the same class; cosine of image "
                 f"embeddings in the teacher's space ({'via the checkpoint KD heads' if result['kd_heads'] else 'direct'}).")
    if result["skipped"]:
        lines += [""] + [f"- skipped {s['what']}: {s['reason']}" for s in result["skipped"]]
    lines += ["", machine_line(result["machine"])]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("student", help="student checkpoint (.pt)")
    add_teacher(p, default=None, required=True,
                   help="teacher: save_pretrained folder, hub name, or vit-b-32-random (accuracy then meaningless)")
    p.add_argument("--export", default=None, help="export folder (manifest.json) of this student: adds its exported models")
    p.add_argument("--backends", default="executorch,tflite,coreml",
                   help="exported backends to evaluate (default: %(default)s; coreml only on macOS)")
    p.add_argument("--quantization", default="int8", help="exported precision to evaluate (default: int8)")
    p.add_argument("--zeroshot", default=None, help="class-folder set (default: CIFAR-10 test from ../shared/data)")
    p.add_argument("--templates", default="ensemble", help="prompt set: single or ensemble (default: ensemble)")
    p.add_argument("--retrieval", default=None, help="image,caption CSV (default: Flickr8k subset from ../shared/data)")
    p.add_argument("--no-retrieval", action="store_true", help="skip retrieval")
    p.add_argument("--limit", type=int, default=None, help="zero-shot: at most N images, evenly spaced over classes")
    p.add_argument("--retrieval-limit", type=int, default=None, help="retrieval: the first N images (all captions)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    add_threads(p, what="torch threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_output_args(p, "accuracy")
    return p.parse_args(argv)


def main(argv=None):
    return run_and_write("benchmarks.accuracy", parse_args(argv), run, to_markdown, "accuracy")


if __name__ == "__main__":
    main()
