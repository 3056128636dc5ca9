"""``benchmarks.indexing``'s cold starts (fresh processes) and its Markdown."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
from tabulate import tabulate

from mobileclip.utils.errors import MobileClipError

from .common import machine_line

REPO = Path(__file__).resolve().parents[1]
COLD_KEYS = ("import_ms", "load_ms", "first_inference_ms", "load_and_first_ms", "process_start_to_embedding_ms")


def cold_start(runtime: str, model, x: np.ndarray, threads: int = 1, timeout: float = 900) -> dict:
    """One fresh ``python -m benchmarks.cold_start`` process: its JSON line of times."""
    with tempfile.TemporaryDirectory(prefix="cold_start_") as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        argv = [sys.executable, "-m", "benchmarks.cold_start", "--runtime", runtime, "--model", str(model),
                "--input", str(path), "--threads", str(threads), "--t0", repr(time.time())]
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MobileClipError(f"cold start of {model} in {runtime} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])


def cold_starts(configs, photo_sets: dict, repeats: int, prepare) -> list[dict]:
    """Median cold start over ``repeats`` fresh processes per model and runtime, on the first photo (draft decode
    with ``prepare``, :func:`benchmarks.indexing.prepare`, passed in: this module stays below the command)."""
    photo = next(iter(photo_sets.values()))[:1]
    rows = []
    for c in configs:
        x = prepare(photo, "draft", c.preprocess)[0].numpy()
        runs = [cold_start(c.runtime, c.path, x) for _ in range(repeats)]
        rows.append({"model": c.label, "role": c.role, "runtime": c.runtime, "precision": c.precision,
                     "image_size": c.image_size, "repeats": repeats,
                     **{k: median(r[k] for r in runs) for k in COLD_KEYS}})
    return rows


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
        rows = [[f"{r['role']}: {r['model']}", r["runtime"], r["precision"], r["image_size"], r["import_ms"],
                 r["load_ms"], r["first_inference_ms"], r["load_and_first_ms"], r["process_start_to_embedding_ms"]]
                for r in result["cold_start"]]
        lines += ["## Cold start (fresh process, median ms)", "",
                  tabulate(rows, headers=["model", "runtime", "precision", "px", "import runtime", "load file",
                                          "first embedding", "load + first", "process start to embedding"],
                           floatfmt=".1f", tablefmt="github"), "",
                  "`load + first` is what an app that links the runtime pays; `process start to embedding` adds the "
                  "Python interpreter and the runtime's Python import.", ""]
    lines += [f"- skipped: {s}" for s in result["skipped"]]
    lines += ["", "Decode and preprocess run in one thread; `threads` is the runtime's. photos/s = 1000 / (decode + "
              "preprocess + encode). " + machine_line(result["machine"])]
    return "\n".join(lines) + "\n"


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
