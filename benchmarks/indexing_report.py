"""``benchmarks.indexing``'s cold starts (fresh processes) and its Markdown."""
from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
import torch
from tabulate import tabulate

from mobileclip.utils.errors import MobileClipError

from .common import machine_line

REPO = Path(__file__).resolve().parents[1]
COLD_KEYS = ("interpreter_ms", "import_ms", "load_ms", "preprocess_ms", "first_inference_ms", "load_and_first_ms",
             "spawn_to_embedding_ms")
COLD_COSINE_MIN = 0.999  # the fresh process's embedding vs the measured runtime's in-process one (same file)


def cold_start(runtime: str, model, photo: Path, preprocess: dict, threads: int = 1, timeout: float = 900) -> dict:
    """One fresh ``python -m benchmarks.cold_start`` process: its JSON line (times and embedding), plus
    ``spawn_to_embedding_ms``: from just before the spawn to the embedding line arriving here (wall)."""
    argv = [sys.executable, "-m", "benchmarks.cold_start", "--runtime", runtime, "--model", str(model),
            "--photo", str(photo), "--preprocess", json.dumps(preprocess), "--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*argv, "--t0", repr(time.time())], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # the child prints one line, at its first embedding
    arrived = time.perf_counter()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if proc.returncode != 0 or not line.startswith("{"):
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise MobileClipError(f"cold start of {model} in {runtime} failed (exit {proc.returncode}): {tail}")
    return {**json.loads(line), "spawn_to_embedding_ms": 1e3 * (arrived - t0)}


def cold_starts(configs, photo_sets: dict, repeats: int, prepare) -> list[dict]:
    """Median cold start over ``repeats`` fresh processes per model and runtime, on the first photo. Each fresh
    process's embedding is checked against the runtime's in-process embedding of the same photo (draft decode with
    ``prepare``, :func:`benchmarks.indexing.prepare`, passed in: this module stays below the command)."""
    photo = next(iter(photo_sets.values()))[0]
    rows = []
    for c in configs:
        gc.collect()  # programs of earlier runs released before an ExecuTorch pool resize (benchmarks.indexing)
        with torch.no_grad():
            ref = np.asarray(c.make(1)(prepare([photo], "draft", c.preprocess)[0]), dtype=np.float32)
        runs = [cold_start(c.runtime, c.path, photo, c.preprocess) for _ in range(repeats)]
        cos = cosine_min(np.asarray([r["embedding"] for r in runs], dtype=np.float32), ref)
        if cos < COLD_COSINE_MIN:
            raise MobileClipError(f"cold start of {c.path} in {c.runtime}: its embedding has cosine {cos:.4f} to "
                                  f"the in-process one (< {COLD_COSINE_MIN}): the fresh process's preprocessing differs")
        rows.append({"model": c.label, "role": c.role, "runtime": c.runtime, "precision": c.precision,
                     "image_size": c.image_size, "repeats": repeats, "cosine_to_in_process": cos,
                     "heavy_modules": sorted({m for r in runs for m in r["heavy_modules"]}),
                     **{k: median(r[k] for r in runs) for k in COLD_KEYS}})
    return rows


def cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest per-row cosine of two embedding arrays (rows broadcast)."""
    return float(((a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))).min())


def to_markdown(result: dict) -> str:
    lines = ["# Indexing: JPEG file to stored embedding", "", f"Command: `{result['command']}`", ""]
    for name, s in result["photo_sets"].items():
        lines.append(f"- photo set **{name}**: {s['n']} JPEG photos, e.g. {s['size']} px, from `{s['folder']}`")
    rows = [[f"{r['role']}: {r['model']}", r["runtime"], r["precision"], r["image_size"], r["photos"], r["decoder"],
             r["threads"], r["batch"], r["decode_ms"], r["preprocess_ms"], r["encode_ms"], r["photos_per_s"],
             f"{r['pre_encode_over_decode']:.2f}",
             f"{r['draft_vs_full_cosine_min']:.4f}" if "draft_vs_full_cosine_min" in r else "—"]
            for r in result["results"]]
    lines += ["", "## Per photo (ms) and photos/s", "",
              tabulate(rows, headers=["model", "runtime", "precision", "px", "photos", "decoder", "threads", "batch",
                                      "decode", "preprocess", "encode", "photos/s", "(pre+enc)/decode",
                                      "cos draft vs full (min)"], floatfmt=".2f", tablefmt="github"), ""]
    lines += _decode_speedups(result["results"])
    if result["cold_start"]:
        lines += _cold_start_table(result["cold_start"])
    lines += [f"- skipped: {s}" for s in result["skipped"]]
    lines += ["", "Decode and preprocess run in one thread; `threads` is the runtime's. photos/s = 1000 / (decode + "
              "preprocess + encode). " + machine_line(result["machine"])]
    return "\n".join(lines) + "\n"


def _cold_start_table(cold: list[dict]) -> list[str]:
    rows = [[f"{r['role']}: {r['model']}", r["runtime"], r["precision"], r["image_size"], r["interpreter_ms"],
             r["import_ms"], r["load_ms"], r["preprocess_ms"], r["first_inference_ms"], r["load_and_first_ms"],
             r["spawn_to_embedding_ms"], r["cosine_to_in_process"], ", ".join(r["heavy_modules"]) or "none"]
            for r in cold]
    return ["## Cold start: process start to first embedding (fresh process, 1 thread, median ms)", "",
            tabulate(rows, headers=["model", "runtime", "precision", "px", "interpreter start", "imports", "load file",
                                    "decode + preprocess", "first inference", "load to embedding",
                                    "**spawn to embedding**", "cos to in-process", "imports torch etc."],
                     floatfmt=[".1f"] * 11 + [".5f", ""], tablefmt="github"), "",
            f"Median of {cold[0]['repeats']} fresh processes (`benchmarks.cold_start`) on one photo of the first set. "
            "`spawn to embedding` is wall time from just before the spawn to the embedding line arriving; "
            "`load to embedding` (load file, decode + preprocess, first inference) is what a process that has "
            "already started and imported its runtime pays.", ""]


def _decode_speedups(rows: list[dict]) -> list[str]:
    """Full decode time / draft decode time per photo set and input size (the decoders' work is model-free)."""
    seen, out = {}, []
    for r in rows:
        seen.setdefault((r["photos"], r["image_size"]), {})[r["decoder"]] = r["decode_ms"]
    for (photos, px), d in sorted(seen.items(), key=str):
        if "draft" in d and "full" in d:
            out.append(f"- {photos}, decoded for {px} px: full {d['full']:.2f} ms, draft {d['draft']:.2f} ms per photo: "
                       f"draft decode {d['full'] / d['draft']:.1f}x faster")
    return out + [""] if out else []
