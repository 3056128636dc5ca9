"""Peak memory (RSS) of a cached-teacher training run on synthetic tar shards, per dataset size.

    python -m benchmarks.cache_rss --sizes 2000 20000 200000 --out .cache/cache_rss

For each size N this writes N samples (small PNG + caption) in tar shards of ``--per-shard`` samples and,
next to them, per-shard teacher sidecars with random float16 embeddings of the real ViT-B/32 shape
(``--dim`` 512, ``--variants`` 30: 31 KiB per sample, as ``mobileclip.cache_teacher`` writes them; random
because only their size matters here), then runs ``mobileclip.train --teacher-cache FOLDER`` for the same
``--steps`` in a fresh process and reads that process's peak RSS. Streamed sidecars keep memory flat: an
implementation that loaded every sidecar would grow by N x 31 KiB.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from mobileclip.models.options import add_model

from mobileclip.utils.cli import add_output_args, default_paths
from mobileclip.utils.errors import MobileClipError, cli_errors

from .common import machine_info, machine_line, write_outputs

PROG = "python -m benchmarks.cache_rss"
REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"teacher": "synthetic (random embeddings)", "teacher_preprocess": {}, "seed": 0, "crop_scale": [0.9, 1.0]}
_RUN = ("import json, resource, sys\nfrom mobileclip.training.loop import TrainConfig, train\n"
        "train(TrainConfig(**json.loads(sys.argv[1])))\n"
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def _png(i: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256)).save(buf, format="PNG")
    return buf.getvalue()


def _add(tar, name: str, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_dataset(root: Path, n: int, per_shard: int, dim: int, variants: int) -> str:
    """``n`` samples in shards of ``per_shard`` under ``root/shards`` + their sidecars; returns the pattern."""
    from mobileclip.training.shard_cache import sidecar_meta, sidecar_path

    rng = np.random.default_rng(0)
    n_shards = -(-n // per_shard)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        m = min(per_shard, n - s * per_shard)
        shard = root / "shards" / f"part-{s:06d}.tar"
        with tarfile.open(shard, "w") as tar:
            for j in range(m):
                _add(tar, f"{j:09d}.png", _png(s * per_shard + j))
                _add(tar, f"{j:09d}.txt", f"a photo of sample {s * per_shard + j}".encode())
        with open(sidecar_path(shard), "wb") as f:
            np.savez(f, meta=np.array(json.dumps(sidecar_meta({**SETTINGS, "variants": variants}, shard))),
                     keys=np.array([f"{j:09d}" for j in range(m)], dtype=str),
                     index=np.arange(m, dtype=np.int64) + s * 1_000_000,
                     image=rng.standard_normal((variants, m, dim), dtype=np.float32).astype(np.float16),
                     text=rng.standard_normal((m, dim), dtype=np.float32).astype(np.float16),
                     logit_scale=np.float32(100.0))
    return str(root / "shards" / f"part-{{000000..{n_shards - 1:06d}}}.tar")


def peak_rss_kib(pattern: str, out: Path, model: str, steps: int, batch_size: int) -> int:
    """Peak RSS (KiB) of a fresh process training ``steps`` steps with the streamed sidecars."""
    cfg = {"train_data": pattern, "teacher_cache": str(Path(pattern).parent), "model": model, "steps": steps,
           "batch_size": batch_size, "align_steps": 0, "distil_steps": 0, "out": str(out), "quiet": True,
           "threads": 1, "bn_recalibrate": 0, "resume": "none", "crop_scale": SETTINGS["crop_scale"]}
    r = subprocess.run([sys.executable, "-c", _RUN, json.dumps(cfg)], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"training run failed:\n{r.stderr[-2000:]}")
    return int(next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("PEAK_RSS_KB")))


def measure(sizes, work: Path, per_shard=200, dim=512, variants=30, model="tiny-lsra-light", steps=4,
            batch_size=8) -> dict:
    rows = []
    for n in sizes:
        pattern = write_dataset(work / f"n{n}", n, per_shard, dim, variants)
        kib = peak_rss_kib(pattern, work / f"n{n}" / "run", model, steps, batch_size)
        rows.append({"samples": n, "sidecar_bytes": n * (variants + 1) * dim * 2, "peak_rss_mib": kib / 1024})
        print(f"{n:>8} samples ({rows[-1]['sidecar_bytes'] / 2**20:8.1f} MiB of sidecars): "
              f"peak RSS {kib / 1024:.1f} MiB", flush=True)
    return {"rows": rows, "per_shard": per_shard, "dim": dim, "variants": variants, "model": model,
            "steps": steps, "batch_size": batch_size, "machine": machine_info()}


def _work_root(work: str | None) -> str | None:
    """--work as an absolute folder (the training child runs from the repository root); missing: one line."""
    if work is None:
        return None
    root = Path(work).resolve()
    if not root.is_dir():
        raise MobileClipError(f"--work {work}: no such folder (create it, or leave --work out for a temporary one)")
    return str(root)


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000], help="dataset sizes (samples)")
    p.add_argument("--per-shard", type=int, default=200, help="samples per shard")
    p.add_argument("--work", default=None, help="folder for the synthetic shards and runs (default: a temporary "
                                                "folder, deleted afterwards)")
    add_model(p, default="tiny-lsra-light")
    add_output_args(p, "cache_rss")
    args = p.parse_args(argv)
    with cli_errors("benchmarks.cache_rss"):
        work_root = _work_root(args.work)
        with tempfile.TemporaryDirectory(prefix="cache_rss-", dir=work_root) as work:
            res = measure(args.sizes, Path(work), args.per_shard, model=args.model)
        md = "\n".join(["| samples | sidecars (MiB) | peak RSS (MiB) |", "| ---: | ---: | ---: |"]
                       + [f"| {r['samples']} | {r['sidecar_bytes'] / 2**20:.1f} | {r['peak_rss_mib']:.1f} |"
                          for r in res["rows"]] + ["", machine_line(res["machine"])])
        print(md)
        write_outputs(res, md, *default_paths(args.out, "cache_rss", args.json, args.md))
        return res


if __name__ == "__main__":
    main()
