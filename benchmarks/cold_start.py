"""One cold start in a fresh process: import the runtime, load one image model, decode and preprocess one JPEG
photo, embed it; prints one JSON line (times in ms and the embedding). ``benchmarks.indexing`` starts it and
times it from before the spawn to the embedding line arriving (:func:`benchmarks.indexing_report.cold_start`).

    python -m benchmarks.cold_start --runtime litert --model image_int8.tflite --photo p.jpg \\
        --preprocess '{"image_size": 224, ...}' --t0 <the parent's time.time() before the spawn>

Each runtime takes its fastest path from the official Python packages:

* ``litert``: ``ai_edge_litert.interpreter`` with numpy; never imports torch;
* ``executorch``: the pybindings extension ``executorch.extension.pybindings._C`` plus ``import torch``. The
  extension takes and returns only ``torch.Tensor`` ("Unsupported python type <class 'numpy.ndarray'>"), so no
  path of the executorch 1.5 wheel runs a program without torch, and the wheel ships no runner binary
  (``executor_runner``). Its public faces cost more: ``executorch.runtime`` and
  ``executorch.extension.pybindings.portable_lib`` import ``executorch.exir`` (the compiler) besides torch;
* ``eager``: torch + ``mobileclip`` (``load_encoder``).

Decode and preprocessing use Pillow and numpy only (the same result as ``benchmarks.indexing``'s ``draft``
decode + ``mobileclip.image_transform``: tests/benchmarks/test_cold_start.py), so the photo never needs torch.
Only the standard library is imported before ``import_ms`` starts.
"""
from __future__ import annotations

import time

T_MAIN = time.time()

import argparse  # noqa: E402  (stdlib only before the clock above)
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

DRAFT_OVERSAMPLE = 2  # draft decodes to >= this x the input size (see benchmarks.indexing)
ET_PYBINDINGS = "executorch.extension.pybindings._C"  # listed in mobileclip.utils.shims.executorch_private


def decode(path, decoder: str, size: int):
    """The decoded PIL image of ``path``; ``draft`` lets libjpeg scale while decoding (both sides >=
    ``DRAFT_OVERSAMPLE`` x ``size``)."""
    from PIL import Image

    im = Image.open(path)
    if decoder == "draft":
        im.draft("RGB", (DRAFT_OVERSAMPLE * size, DRAFT_OVERSAMPLE * size))
    im.load()
    return im


def preprocess(image, pre: dict):
    """``mobileclip.image_transform``'s eval policy with Pillow + numpy: EXIF orientation, RGB, shortest side
    resized (Pillow, as torchvision does for PIL images), center crop, /255, normalise -> (1, 3, S, S) float32."""
    import numpy as np
    from PIL import Image, ImageOps

    size = int(pre.get("image_size", 224))
    try:
        resample = Image.Resampling[str(pre.get("interpolation", "bicubic")).upper()]
    except KeyError:
        raise SystemExit(f"benchmarks.cold_start: error: unknown interpolation {pre.get('interpolation')!r}")
    im = ImageOps.exif_transpose(image).convert("RGB")
    w, h = im.size
    short, long = min(w, h), max(w, h)
    new_short, new_long = size, int(size * long / short)  # torchvision's rounding (down)
    new = (new_short, new_long) if w <= h else (new_long, new_short)
    if new != (w, h):
        im = im.resize(new, resample)
    top, left = int(round((new[1] - size) / 2.0)), int(round((new[0] - size) / 2.0))
    im = im.crop((left, top, left + size, top + size))
    mean = np.asarray(pre.get("mean", (0.48145466, 0.4578275, 0.40821073)), dtype=np.float32)[:, None, None]
    std = np.asarray(pre.get("std", (0.26862954, 0.26130258, 0.27577711)), dtype=np.float32)[:, None, None]
    x = np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return np.ascontiguousarray(((x - mean) / std)[None])  # C order: ExecuTorch reads the buffer as NCHW


def _litert(model: str, threads: int):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    def load():
        runner = Interpreter(model_path=model, num_threads=threads).get_signature_runner("serving_default")
        name = next(iter(runner.get_input_details()))
        return lambda x: np.asarray(next(iter(runner(**{name: x}).values()))).ravel()
    return load


def _executorch(model: str, threads: int):
    import torch

    et = importlib.import_module(ET_PYBINDINGS)

    def load():
        if et._threadpool_get_thread_count() != threads:  # XNNPACK's pool, before any program is loaded
            et._unsafe_reset_threadpool(threads)
        module = et._load_for_executorch(model)
        return lambda x: module.forward((torch.from_numpy(x),))[0].numpy().ravel()
    return load


def _eager(model: str, threads: int):
    import torch

    from mobileclip.evaluation.encoders import load_encoder

    def load():
        torch.set_num_threads(threads)
        encoder = load_encoder(model)

        def run(x):
            with torch.no_grad():
                return encoder.encode_image(torch.from_numpy(x)).numpy().ravel()
        return run
    return load


HEAVY_MODULES = ("torch", "torchvision", "executorch.exir", "mobileclip")  # reported: which the path imported
RUNTIMES = {"litert": _litert, "executorch": _executorch, "eager": _eager}


def cold_start(runtime: str, model: str, photo: str, pre: dict, threads: int) -> dict:
    """Import, load, decode + preprocess, first embedding: their times (ms) and the embedding."""
    t0 = time.perf_counter()
    # numpy's OpenBLAS starts a thread per core at import unless told otherwise; its BLAS does no work here
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    load = RUNTIMES[runtime](model, threads)
    importlib.import_module("numpy")  # counted with the runtime's imports, as Pillow's JPEG reader: every path
    for name in ("PIL.Image", "PIL.ImageOps", "PIL.JpegImagePlugin"):  # needs them before its first photo
        importlib.import_module(name)
    t1 = time.perf_counter()
    run = load()
    t2 = time.perf_counter()
    x = preprocess(decode(photo, "draft", int(pre.get("image_size", 224))), pre)
    t3 = time.perf_counter()
    emb = run(x)
    t4 = time.perf_counter()
    return {"import_ms": 1e3 * (t1 - t0), "load_ms": 1e3 * (t2 - t1), "preprocess_ms": 1e3 * (t3 - t2),
            "first_inference_ms": 1e3 * (t4 - t3), "load_and_first_ms": 1e3 * (t4 - t1),
            "embedding": [float(v) for v in emb]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtime", required=True, choices=tuple(RUNTIMES))
    p.add_argument("--model", required=True, help="model file (.pte, .tflite) or checkpoint / teacher spec (eager)")
    p.add_argument("--photo", required=True, help="one JPEG photo")
    p.add_argument("--preprocess", required=True, help="the model's preprocess entry as JSON (export manifest)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--t0", type=float, default=None, help="the parent's time.time() just before it started us")
    args = p.parse_args(argv)
    for what, path in (("--photo", args.photo), ("--model", args.model if args.runtime != "eager" else None)):
        if path is not None and not os.path.isfile(path):
            p.error(f"{what}: no such file: {path}")
    out = cold_start(args.runtime, args.model, args.photo, json.loads(args.preprocess), args.threads)
    done = time.time()
    out["interpreter_ms"] = 1e3 * (T_MAIN - args.t0) if args.t0 else None
    out["process_start_to_embedding_ms"] = 1e3 * (done - args.t0) if args.t0 else None
    out["heavy_modules"] = [m for m in HEAVY_MODULES if m in sys.modules]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
