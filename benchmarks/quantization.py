"""What each export recipe costs: file size, latency, zero-shot top-1 and search recall, per runtime and tower.

    python -m benchmarks.quantization CKPT --out DIR [--runtimes executorch,litert] [--towers image,text]

For every recipe the toolkit offers (``python -m export.<backend> --help``; ExecuTorch: fp32, int8 dynamic,
int8 static, int8 static-conv, int8 dynamic-linear; LiteRT: fp32, dynamic int8 with float depthwise, dynamic
int8, weight-only int8; Core ML's recipes run only on macOS and are listed as skipped; no runtime here offers
an fp16 recipe but Core ML), each tower is exported through the normal pipeline (``export_checkpoint``: its
verification gate decides the "export gate" column; a refused file is still measured) into
``DIR/exports/<runtime>/<recipe>``, then measured with the *other* tower in PyTorch fp32, so a row shows what
that one tower's quantisation does:

* size of the file; latency: median of ``--repeats`` batch-1 runs after 3 warm-ups, ``--threads`` threads;
* zero-shot top-1 on CIFAR-10 test (``--zeroshot``, ``--zeroshot-limit`` images, CLIP prompt ensemble);
* text -> image R@1 / R@10 over a gallery of the Flickr8k subset's 800 photos (every caption is a query)
  plus ``--distractors`` CIFAR-10 test images that no caption describes (default 250: a 1,050-photo gallery);
* top-10 overlap: the mean over captions of |top-10(fp32) ∩ top-10(recipe)| / 10, fp32 = PyTorch fp32;
* "search gate": overlap >= 0.9 and R@1 no more than 1 point below fp32 (the issue's bar for an int8 recipe).

Writes ``quantization.json``, ``quantization.md`` and ``quantization.png`` (R@1 against latency, marker area
from the file size).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from export.backends import BACKENDS, get_backend, runtime_name
from mobileclip import MobileClipError, load_checkpoint
from mobileclip.utils.cli import add_output_args

from .common import machine_info, run_and_write, split_list
from .quantization_report import plot, search_gate, to_markdown

PROG = "python -m benchmarks.quantization"
MIN_OVERLAP, MAX_R1_DROP = 0.9, 0.01


class TowerSwap:
    """The student with one tower replaced by an exported file's runner (batch 1, looped)."""

    def __init__(self, model, tower: str, run):
        self.model, self.tower, self.run = model, tower, run
        self.preprocess_cfg, self.label = model.preprocess_cfg, f"{model.label} ({tower} exported)"
        self.context_length = model.context_length

    def _rows(self, x, dtype):
        return torch.cat([torch.as_tensor(np.asarray(self.run(x[i:i + 1].to(dtype)))).reshape(1, -1)
                          for i in range(len(x))])

    def encode_image(self, images):
        return self._rows(images, torch.float32) if self.tower == "image" else self.model.encode_image(images)

    def encode_text(self, ids):
        return self._rows(ids, torch.int32) if self.tower == "text" else self.model.encode_text(ids)


def gallery(distractors: int, retrieval_csv: str, zeroshot: str) -> tuple[list, list, list]:
    """``(gallery image paths, captions, caption -> gallery position)``: the captioned photos, then distractors."""
    from mobileclip.data.datasets import ClassFolder, read_caption_csv

    rows = read_caption_csv(retrieval_csv)
    images, where, captions, target = [], {}, [], []
    for path, caption in rows:
        if path not in where:
            where[path] = len(images)
            images.append(path)
        captions.append(caption)
        target.append(where[path])
    samples = ClassFolder(zeroshot, transform=None, tokenizer=None).samples
    pick = np.linspace(0, len(samples) - 1, num=min(distractors, len(samples))).round().astype(int)
    return images + [samples[i][0] for i in np.unique(pick)], captions, target


def evaluate(encoder, data: dict, templates: list[str]) -> dict:
    """Embeddings of the gallery, captions, zero-shot images and prompts -> metrics (R@K, top-1)."""
    from mobileclip.evaluation.metrics import class_embeddings, encode_image_files, encode_texts, prompt_embeddings

    with torch.no_grad():
        img = encode_image_files(encoder, data["gallery"], batch_size=64)[0]
        txt = encode_texts(encoder, data["captions"], batch_size=256)
        zs = encode_image_files(encoder, data["zs_paths"], batch_size=64)[0]
        cls = class_embeddings(prompt_embeddings(encoder, data["classnames"], templates))
    sim = (txt @ img.T).numpy()
    top10 = np.argsort(-sim, axis=1, kind="stable")[:, :10]
    target = np.asarray(data["target"])
    return {"sim_top10": top10, "R@1": float((top10[:, 0] == target).mean()),
            "R@10": float((top10 == target[:, None]).any(1).mean()),
            "zeroshot_top1": float(((zs @ cls.T).argmax(1).numpy() == np.asarray(data["zs_labels"])).mean())}


def recipes_of(backend, tower: str) -> list:
    """Every recipe of ``backend`` that fits ``tower`` (``check_recipe`` decides), fp32 first."""
    out = []
    for recipe in backend.Recipe:
        q = "fp32" if recipe.value in ("xnnpack-fp32", "fp32") else "int8"
        try:
            backend.check_recipe(recipe, tower, q)
        except MobileClipError:
            continue
        out.append((recipe, q))
    return sorted(out, key=lambda rq: rq[1] != "fp32")


def export_one(backend, ckpt, out: Path, tower: str, recipe, quantization: str, args) -> tuple[Path, bool]:
    """The tower exported with ``recipe`` through the pipeline; ``(file, passed the export gate)``."""
    from export.errors import VerificationError
    from export.pipeline import export_checkpoint

    try:
        manifest = export_checkpoint(backend, ckpt, out, quantize="none" if quantization == "fp32" else "int8",
                                     recipe=f"{tower}={recipe.value}", towers=[tower], calibration=args.calibration)
        passed = True
    except VerificationError:
        from export.manifest import read_manifest

        manifest, passed = read_manifest(out), False
    (entry,) = [m for m in manifest["models"] if m["tower"] == tower]
    return out / entry["file"], passed


def latency_ms(run, x, repeats: int) -> float:
    for _ in range(3):
        run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x)
        times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times))


def run(args) -> dict:
    from mobileclip.data.datasets import ClassFolder
    from mobileclip.data.templates import get_templates

    from .accuracy import default_retrieval, default_zeroshot

    runtimes, towers = split_list(args.runtimes), split_list(args.towers)
    backends = [get_backend(r) for r in runtimes]  # unknown names fail here, before any work
    if set(towers) - {"image", "text"} or not towers:
        raise MobileClipError("--towers: image and/or text")
    model = load_checkpoint(args.checkpoint).eval()
    model.label = Path(args.checkpoint).name
    torch.set_num_threads(args.threads)
    zeroshot = args.zeroshot or str(default_zeroshot())
    ds = ClassFolder(zeroshot, transform=None, tokenizer=None)
    pick = np.unique(np.linspace(0, len(ds.samples) - 1, num=min(args.zeroshot_limit, len(ds.samples)))
                     .round().astype(int))
    captions_csv = args.retrieval or str(default_retrieval())
    images, captions, target = gallery(args.distractors, captions_csv, zeroshot)
    data = {"gallery": images, "captions": captions, "target": target, "classnames": ds.classnames,
            "zs_paths": [ds.samples[i][0] for i in pick], "zs_labels": [ds.targets[i] for i in pick]}
    templates = get_templates(args.templates)
    ref = evaluate(model, data, templates)
    rows = [_row("PyTorch eager", "both", "fp32", None, None, None, ref, ref, True)]  # the reference
    skipped = []
    out = Path(args.out or ".cache/bench/quantization")
    size = int(model.preprocess_cfg.get("image_size", 224))
    example = {"image": torch.zeros(1, 3, size, size), "text": torch.zeros(1, model.context_length, dtype=torch.int32)}
    for backend in backends:
        if backend.name == "coreml" and sys.platform != "darwin":
            skipped.append("coreml (fp16-compute, int8-weights-per-channel): Core ML runs only on macOS")
            continue
        for tower in towers:
            for recipe, q in recipes_of(backend, tower):
                where = out / "exports" / runtime_name(backend.name) / f"{tower}-{recipe.value}"
                path, passed = export_one(backend, args.checkpoint, where, tower, recipe, q, args)
                runner = backend.load(path, tower, num_threads=args.threads)
                res = evaluate(TowerSwap(model, tower, runner), data, templates)
                rows.append(_row(runtime_name(backend.name), tower, q, recipe.value, path.stat().st_size,
                                 latency_ms(runner, example[tower], args.repeats), res, ref, passed))
    n_captioned = len(set(target))
    result = {"benchmark": "quantization", "checkpoint": str(args.checkpoint),
              "machine": machine_info(threads=args.threads, repeats=args.repeats),
              "gallery": {"photos": len(images), "captions_csv": captions_csv, "captioned": n_captioned,
                          "distractors": len(images) - n_captioned, "queries": len(captions)},
              "zeroshot": {"folder": zeroshot, "n": len(pick), "templates": args.templates},
              "results": rows, "skipped": skipped}
    result["plot"] = str(plot(result, out / "quantization.png"))
    return result


def _row(runtime, tower, quantization, recipe, size, ms, res, ref, passed) -> dict:
    kept = [len(np.intersect1d(a, b)) / 10 for a, b in zip(ref["sim_top10"], res["sim_top10"])]
    row = {"runtime": runtime, "tower": tower, "quantization": quantization, "recipe": recipe, "size_bytes": size,
           "latency_ms": ms, "zeroshot_top1": res["zeroshot_top1"], "R@1": res["R@1"], "R@10": res["R@10"],
           "top10_overlap": float(np.mean(kept)), "export_gate": passed}
    row["search_gate"] = search_gate(row, ref, MIN_OVERLAP, MAX_R1_DROP)
    return row


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="student checkpoint (.pt)")
    p.add_argument("--runtimes", default=",".join(b for b in BACKENDS), help="default: %(default)s (litert = tflite)")
    p.add_argument("--towers", default="image,text")
    p.add_argument("--zeroshot", default=None, help="class folder (default: CIFAR-10 test)")
    p.add_argument("--zeroshot-limit", type=int, default=1000)
    p.add_argument("--retrieval", default=None, help="image,caption CSV (default: the Flickr8k subset)")
    p.add_argument("--distractors", type=int, default=250, help="uncaptioned zero-shot images added to the gallery")
    p.add_argument("--templates", default="ensemble")
    p.add_argument("--calibration", default=None, help="export calibration/verification data (default: embedded)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    add_output_args(p, "quantization", " (+ quantization.png and exports/)")
    return p.parse_args(argv)


def main(argv=None):
    return run_and_write("benchmarks.quantization", parse_args(argv), run, to_markdown, "quantization")


if __name__ == "__main__":
    main()
