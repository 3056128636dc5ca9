"""Photos indexed per second: JPEG file -> stored, L2-normalised embedding, per runtime, plus cold start.

Stages, each timed per photo:

* **decode**: Pillow opens and decodes the JPEG. ``draft``: the JPEG's own reduced-size decoding
  (``Image.draft``: libjpeg scales the DCT by 1/2, 1/4 or 1/8 while decoding, to the smallest size whose both
  sides are still >= twice the model's input size: the DCT scaling is a crude box filter, so a factor of 2 is
  left to the bicubic resize, which keeps the embeddings within cosine 0.99 of a full decode's -- at 1x the
  12 MP photos' minimum cosine was 0.9896 on the 224-px student); ``full``: every pixel of the 12 MP photo;
* **preprocess**: the one photo policy of ``mobileclip.image_transform`` (EXIF orientation, RGB, shortest side
  resized bicubic, center crop, normalise) -- the same code for every runtime and model;
* **encode**: the image tower in its runtime (PyTorch eager; ExecuTorch and LiteRT files of ``--export`` /
  ``--teacher-export``; Core ML is listed as macOS-only), then the embedding is stored (copied into the index
  array). Exported files take batch 1 (their input shape is fixed); eager runs each of ``--batches``.

Decode and preprocess run in the calling thread (one core, torch at 1 thread for the transform's tensor ops);
``--threads`` sets the runtime's threads. Stages run
one after the other as in a simple indexer, so photos/s = 1000 / (decode + preprocess + encode ms). Student and
teacher go through the same decoder, preprocessing and runtime. The draft embeddings are compared with the
full-decode ones of the same model and runtime (cosine per photo). Cold start: a fresh process per runtime and
model (``benchmarks.cold_start``) imports the runtime, loads the file, decodes and preprocesses one photo (Pillow
+ numpy) and embeds it, timed from before the spawn to the embedding; that embedding is checked against the
runtime's in-process one.

Example (the phone-photo set is made on first use in .cache/phone_photos):
  python -m benchmarks.indexing --students .cache/perf/student224.pt --teacher vit-b-32-random \\
      --export .cache/perf/export --teacher-export .cache/perf/teacher --threads 1 --out .cache/indexing
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import torch

from export.backends import ALIASES, get_backend, runtime_name
from mobileclip import MobileClipError, image_transform
from mobileclip.utils.cli import add_output_args, add_thread_counts
from mobileclip.evaluation.encoders import load_encoder

from .common import RANDOM_VIT_B_32, load_teacher_spec, machine_info, run_and_write, split_list
from .cold_start import decode  # torch-free: the cold-start process decodes with it too
from .indexing_report import cold_starts, cosine_min, to_markdown
from .latency import parse_threads

PROG = "python -m benchmarks.indexing"
DECODERS = ("draft", "full")


def prepare(photos: list[Path], decoder: str, preprocess: dict) -> tuple[torch.Tensor, list[float], list[float]]:
    """The photos decoded and preprocessed: ``(tensor (N, 3, S, S), decode ms, preprocess ms)`` per photo."""
    tf, size = image_transform(preprocess), int(preprocess.get("image_size", 224))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core, as an indexer's decode thread (intra-op threads only add waits here)
    try:
        return _prepare(photos, decoder, tf, size)
    finally:
        torch.set_num_threads(threads)


def _prepare(photos, decoder, tf, size):
    xs, dec, pre = [], [], []
    for p in photos:
        t0 = time.perf_counter()
        im = decode(p, decoder, size)
        t1 = time.perf_counter()
        xs.append(tf(im))
        t2 = time.perf_counter()
        dec.append(1e3 * (t1 - t0))
        pre.append(1e3 * (t2 - t1))
    return torch.stack(xs), dec, pre


class Config:
    """One model in one runtime: ``runner(threads)`` -> ``fn(x (B, 3, S, S)) -> (B, D) numpy``."""

    def __init__(self, label, role, runtime, precision, preprocess, make, batches, path=None):
        self.label, self.role, self.runtime, self.precision = label, role, runtime, precision
        self.preprocess, self.make, self.batches, self.path = preprocess, make, batches, path

    @property
    def image_size(self) -> int:
        return int(self.preprocess.get("image_size", 224))


def eager_config(encoder, role: str, batches: list[int], spec: str) -> Config:
    def make(threads):
        torch.set_num_threads(threads)
        return lambda x: encoder.encode_image(x).numpy()
    return Config(encoder.label, role, "eager", "fp32", encoder.preprocess_cfg, make, batches, path=spec)


def exported_configs(export_dir: str, role: str, runtimes: list[str], skipped: list) -> list[Config]:
    """The image models of an export folder (batch 1: their input shape is fixed)."""
    from export.manifest import manifest_path, read_manifest

    manifest, folder = read_manifest(export_dir), manifest_path(export_dir).parent
    src = manifest.get("source_checkpoint", {})
    label = f"{src.get('model_name', role)} ({src.get('file', 'exported')})"
    out = []
    for entry in (e for e in manifest.get("models", []) if e["tower"] == "image"):
        runtime = runtime_name(entry["backend"]) if entry["backend"] in ALIASES else entry["backend"]
        if runtime not in runtimes:
            continue
        if runtime == "coreml" and sys.platform != "darwin":
            skipped.append(f"{label} coreml {entry['quantization']}: Core ML runs only on macOS")
            continue
        path, backend = folder / entry["file"], get_backend(entry["backend"])

        def make(threads, path=path, backend=backend):
            if backend.name == "executorch":  # one XNNPACK pool per process (see benchmarks.latency)
                from mobileclip.utils.shims import executorch_private

                executorch_private.set_threadpool_size(threads)
            return backend.load(path, "image", num_threads=threads)
        out.append(Config(label, role, runtime, entry["quantization"], manifest.get("preprocess", {}), make, [1],
                          path=path))
    return out


def encode_all(fn, x: torch.Tensor, batch: int) -> tuple[np.ndarray, float]:
    """Embeddings of ``x`` in batches of ``batch`` stored in one array; returns ``(index, ms per photo)``."""
    index = None
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            emb = np.asarray(fn(x[i:i + batch]), dtype=np.float32)
            if index is None:
                index = np.empty((len(x), emb.shape[-1]), dtype=np.float32)
            index[i:i + len(emb)] = emb
    return index, 1e3 * (time.perf_counter() - t0) / len(x)


def measure(configs: list[Config], photo_sets: dict, decoders: list[str], threads_list: list[int],
            repeats: int) -> list[dict]:
    """Rows of (config, set, decoder, threads, batch) with per-photo stage times (medians over ``repeats``)."""
    from statistics import median

    prepared = {}  # (set, decoder, preprocess) -> (tensor, decode ms, preprocess ms): shared by every runtime
    for name, photos in photo_sets.items():
        for cfg_pre in {repr(sorted(c.preprocess.items())): c.preprocess for c in configs}.values():
            for d in decoders:
                prepare(photos[:1], d, cfg_pre)  # warm-up: Pillow loads its JPEG plug-in on first use
                runs = [prepare(photos, d, cfg_pre) for _ in range(repeats)]
                prepared[name, d, repr(sorted(cfg_pre.items()))] = (
                    runs[0][0], median(np.mean(r[1]) for r in runs), median(np.mean(r[2]) for r in runs))
    rows = []
    for threads in threads_list:
        for c in configs:
            gc.collect()  # the previous runtime is released before an ExecuTorch pool resize
            fn = c.make(threads)
            key = repr(sorted(c.preprocess.items()))
            for name in photo_sets:
                indices = {}
                for d in decoders:
                    x, dec_ms, pre_ms = prepared[name, d, key]
                    with torch.no_grad():
                        fn(x[:1])  # warm-up
                    for b in c.batches:
                        index, enc_ms = min((encode_all(fn, x, b) for _ in range(repeats)), key=lambda r: r[1])
                        rows.append(_row(c, name, d, threads, b, dec_ms, pre_ms, enc_ms, len(x)))
                        indices[d, b] = index, rows[-1]
                for (d, b), (index, row) in indices.items():  # draft vs full: same model, runtime, set, batch
                    if d == "draft" and ("full", b) in indices:
                        row["draft_vs_full_cosine_min"] = cosine_min(index, indices["full", b][0])
            del fn
    return rows


def _row(c: Config, name, decoder, threads, batch, dec_ms, pre_ms, enc_ms, n) -> dict:
    total = dec_ms + pre_ms + enc_ms
    return {"model": c.label, "role": c.role, "runtime": c.runtime, "precision": c.precision,
            "image_size": c.image_size, "photos": name, "n_photos": n, "decoder": decoder, "threads": threads,
            "batch": batch, "decode_ms": dec_ms, "preprocess_ms": pre_ms, "encode_ms": enc_ms, "total_ms": total,
            "photos_per_s": 1e3 / total, "pre_encode_over_decode": (pre_ms + enc_ms) / dec_ms}


def run(args) -> dict:
    threads_list, batches = parse_threads(args.threads), [int(b) for b in split_list(args.batches)]
    decoders, runtimes = split_list(args.decoders), split_list(args.runtimes)
    if not decoders or set(decoders) - set(DECODERS):
        raise MobileClipError(f"--decoders: choose from {', '.join(DECODERS)}")
    if not batches or min(batches) < 1 or args.repeats < 1 or args.n_photos < 1:
        raise MobileClipError("--batches, --repeats and --n-photos must be positive")
    if set(runtimes) - {"eager", "executorch", "litert", "coreml"}:
        raise MobileClipError("--runtimes: choose from eager, executorch, litert, coreml")
    photo_sets = photo_folders(args)
    configs, skipped = [], []
    if args.teacher and "eager" in runtimes:
        configs.append(eager_config(load_teacher_spec(args.teacher), "teacher", batches, args.teacher))
    for spec in split_list(args.students):
        if "eager" in runtimes:
            configs.append(eager_config(load_encoder(spec, kind="student"), "student", batches, spec))
    for folder, role in ((args.teacher_export, "teacher"), (args.export, "student")):
        if folder:
            configs += exported_configs(folder, role, runtimes, skipped)
    if "coreml" in runtimes and sys.platform != "darwin":
        skipped.append("coreml: Core ML runs only on macOS")
    if not configs:
        raise MobileClipError("nothing to measure: give --students/--teacher (eager) or --export/--teacher-export")
    rows = measure(configs, photo_sets, decoders, threads_list, args.repeats)
    cold = cold_starts(configs, photo_sets, args.cold_repeats, prepare) if args.cold_repeats else []
    return {"benchmark": "indexing", "command": args.command, "machine": machine_info(threads=threads_list, repeats=args.repeats, batches=batches),
            "photo_sets": {k: {"folder": str(v[0].parent), "n": len(v), "size": _size(v[0])}
                           for k, v in photo_sets.items()},
            "results": rows, "cold_start": cold, "skipped": skipped}


def photo_folders(args) -> dict[str, list[Path]]:
    """``--photos`` folders (name -> JPEG paths), or the phone-photo set and its originals made on first use."""
    if args.photos:
        sets = {}
        for folder in split_list(args.photos):
            photos = sorted(p for p in Path(folder).glob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
            if not photos:
                raise MobileClipError(f"--photos: no JPEG files in {folder}")
            sets[Path(folder).name] = photos[:args.n_photos]
        return sets
    from .phone_photos import make_phone_set

    phone, originals = make_phone_set(args.phone_set, args.n_photos)
    return {"phone (4032x3024)": sorted(phone.glob("*.jpg")), "originals": sorted(originals.glob("*.jpg"))}


def _size(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return f"{im.width}x{im.height}"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", default="", help="comma-separated student checkpoints or configs (eager)")
    p.add_argument("--teacher", default=RANDOM_VIT_B_32, help="teacher for eager (default: %(default)s); '' for none")
    p.add_argument("--export", default=None, help="the student's export folder (ExecuTorch / LiteRT / Core ML files)")
    p.add_argument("--teacher-export", default=None, help="the teacher's export folder (python -m export.teacher)")
    p.add_argument("--runtimes", default="eager,executorch,litert,coreml", help="default: %(default)s")
    p.add_argument("--photos", default=None, help="comma-separated JPEG folders (default: the phone-photo set)")
    p.add_argument("--phone-set", default=".cache/phone_photos", help="where the phone-photo set is made/reused")
    p.add_argument("--n-photos", type=int, default=16, help="photos per set (default: %(default)s)")
    p.add_argument("--decoders", default="draft,full", help="draft (reduced-size JPEG decoding) and/or full")
    add_thread_counts(p, "1,all")
    p.add_argument("--batches", default="1,16", help="eager batch sizes (exported files: 1); default: %(default)s")
    p.add_argument("--repeats", type=int, default=2, help="passes over the photos; median/best kept")
    p.add_argument("--cold-repeats", type=int, default=1, help="fresh processes per cold start (0: none)")
    add_output_args(p, "indexing")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.command = " ".join([PROG, *(sys.argv[1:] if argv is None else argv)])
    return run_and_write("benchmarks.indexing", args, run, to_markdown, "indexing")


if __name__ == "__main__":
    main()
