"""Multilingual text distillation: a student text tower learns to put a sentence *and its translations* where a
frozen English teacher puts the English sentence.

  python -m mobileclip.train_text --parallel multi30k/train.{en,de,fr,cs} \\
      --teacher path/to/all-MiniLM-L6-v2 --out runs/text_minilm --steps 3000

The teacher is a CLIP teacher's text tower (hub name, ``save_pretrained`` dir, proxy teacher) or any local
Hugging Face sentence encoder directory (:mod:`mobileclip.multilingual.teachers`). The student is the Lite Transformer
(LSRA) text tower of a registry config (``--model``, ``--text-overrides`` JSON), with ``embed_dim`` set to the
teacher's so it lives in the teacher's space. Losses (:mod:`mobileclip.multilingual.losses`): CLIP contrastive
student(translation) vs teacher(English), feature distillation student(English) and student(translation) ->
teacher(English); every term is logged to ``OUT/log.csv``. Teacher embeddings of the English side are computed
once and cached in ``OUT/teacher_source.pt``. ``OUT/last.pt`` (atomic, every ``--save-every`` steps) makes a
killed run resumable (``--resume auto``); the result is the text-only checkpoint ``OUT/text_student.pt``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..models.options import add_teacher

from ..utils.cli import add_threads, set_threads
from ..utils.errors import MobileClipError, cli_errors
from ..training.schedule import lr_lambda

PROG = "python -m mobileclip.train_text"
FINAL_NAME, LAST_NAME, CACHE_NAME, LOG_NAME = "text_student.pt", "last.pt", "teacher_source.pt", "log.csv"


@dataclass
class TextTrainConfig:
    parallel: list[str]
    teacher: str
    out: str
    model: str = "mnv3l-lsra-256"
    text_overrides: dict = field(default_factory=dict)
    source_lang: str = "en"
    exclude_images: str | None = None
    limit: int | None = None
    max_tokens: int = 48
    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = -1
    loss_weights: dict = field(default_factory=dict)
    seed: int = 0
    threads: int = 0
    save_every: int = 500
    log_every: int = 50
    resume: str = "auto"
    quiet: bool = False


def _lr_at(cfg: TextTrainConfig, step: int) -> float:
    """The main trainer's schedule (linear warm-up, cosine to 1 % of ``--lr``); warm-up -1 = 5 % of the steps."""
    warmup = cfg.warmup if cfg.warmup >= 0 else max(1, cfg.steps // 20)
    return cfg.lr * lr_lambda(warmup, cfg.steps, 0.01)(step)


def _corpus(cfg: TextTrainConfig):
    from .parallel_text import read_image_list, read_parallel

    exclude = read_image_list(cfg.exclude_images) if cfg.exclude_images else None
    corpus = read_parallel(cfg.parallel, cfg.source_lang, exclude)
    if cfg.limit:
        corpus.source = corpus.source[:cfg.limit]
        corpus.translations = {k: v[:cfg.limit] for k, v in corpus.translations.items()}
    if len(corpus) < 2:
        raise MobileClipError(f"parallel data has {len(corpus)} usable rows; need at least 2")
    return corpus


def _check_out(cfg: TextTrainConfig) -> Path:
    out = Path(cfg.out)
    if (out / FINAL_NAME).exists():
        raise MobileClipError(f"{out} already holds a finished run ({FINAL_NAME}); one run per output folder")
    if out.is_dir() and any(out.iterdir()) and not (out / LAST_NAME).exists() and not (out / CACHE_NAME).exists():
        raise MobileClipError(f"{out} is not empty and holds no text run; choose a new --out")
    if cfg.resume not in ("auto", "none") and not Path(cfg.resume).is_file():
        raise MobileClipError(f"--resume {cfg.resume}: file not found")
    out.mkdir(parents=True, exist_ok=True)
    return out


def teacher_source_embeddings(teacher, fingerprint: str, texts: list[str], cache: Path, quiet=True) -> torch.Tensor:
    """The teacher's embeddings of ``texts``, read from ``cache`` when it was made by the same teacher on the
    same sentences, else computed (in chunks, with progress) and written atomically."""
    from ..utils.fileio import atomic_torch_save

    key = hashlib.sha256(("\n".join(texts) + fingerprint).encode()).hexdigest()
    if cache.is_file():
        blob = torch.load(cache, map_location="cpu", weights_only=True)
        if blob.get("key") == key:
            return blob["embeds"]
    chunks, t0, step = [], time.time(), 1024
    for i in range(0, len(texts), step):
        chunks.append(teacher.encode(texts[i:i + step]))
        if not quiet:
            done = min(i + step, len(texts))
            print(f"  teacher: {done}/{len(texts)} sentences, {time.time() - t0:.0f} s", flush=True)
    embeds = torch.cat(chunks).to(torch.float32)
    atomic_torch_save({"key": key, "embeds": embeds}, cache)
    return embeds


def _tokenize(texts: list[str], max_tokens: int) -> torch.Tensor:
    from ..models.tokenizer import get_tokenizer

    return get_tokenizer()(texts, context_length=max_tokens).to(torch.int32)


def _student(cfg: TextTrainConfig, embed_dim: int):
    from ..models.factory import create_model

    overrides = {"embed_dim": embed_dim}
    if cfg.text_overrides:
        overrides["text_cfg"] = cfg.text_overrides
    model = create_model(cfg.model, **overrides)
    if cfg.max_tokens > model.text.context_length:
        raise MobileClipError(f"--max-tokens {cfg.max_tokens} exceeds the text context {model.text.context_length}")
    return model


def _batch(ids: dict[str, torch.Tensor], langs: list[str], src: str, rows: torch.Tensor, gen,
           eot: int) -> torch.Tensor:
    """Source ids of ``rows`` followed by one random translation of each row, trimmed to the longest text."""
    pick = torch.randint(len(langs), (len(rows),), generator=gen)
    trans = torch.stack([ids[langs[int(p)]][int(r)] for p, r in zip(pick, rows)])
    both = torch.cat([ids[src][rows], trans]).long()
    ends = (both == eot).to(torch.int32).argmax(-1)
    return both[:, : int(ends.max()) + 1]


def _save_last(out, step, text, logit_scale, opt, gen, cfg):
    from ..utils.fileio import atomic_torch_save

    atomic_torch_save({"step": step, "text": text.state_dict(), "logit_scale": logit_scale.detach().clone(),
                       "opt": opt.state_dict(), "gen": gen.get_state(), "config": asdict(cfg)}, out / LAST_NAME)


def _resume(cfg, out, text, logit_scale, opt, gen) -> int:
    path = None if cfg.resume == "none" else (out / LAST_NAME if cfg.resume == "auto" else Path(cfg.resume))
    if path is None or not path.is_file():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=True)
    mismatch = {k for k in ("parallel", "teacher", "model", "text_overrides", "max_tokens")
                if state["config"].get(k) != asdict(cfg).get(k)}
    if mismatch:
        raise MobileClipError(f"cannot resume from {path}: it was made with different {sorted(mismatch)}")
    text.load_state_dict(state["text"])
    logit_scale.data.copy_(state["logit_scale"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["gen"])
    print(f"resumed from {path} at step {state['step']}", flush=True)
    return int(state["step"])


def _log(out: Path, row: dict, first: bool):
    path = out / LOG_NAME
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if first and path.stat().st_size == 0:
            w.writeheader()
        w.writerow(row)


def _optimizer(cfg: TextTrainConfig, text, logit_scale) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (not on embeddings, norms, biases or the logit scale)."""
    decay = [p for n, p in text.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in text.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay + [logit_scale], "weight_decay": 0.0}], lr=cfg.lr)


def train_text(cfg: TextTrainConfig) -> dict:
    """Train; returns ``{"checkpoint": path, "steps": n, "final_terms": {...}, "seconds": s}``."""
    from .checkpoint import save_text_checkpoint
    from .losses import ParallelTextLoss
    from .teachers import load_text_teacher, teacher_fingerprint

    set_threads(cfg.threads)
    if cfg.steps < 1 or cfg.batch_size < 2:
        raise MobileClipError("--steps must be >= 1 and --batch-size >= 2")
    loss_fn = ParallelTextLoss(cfg.loss_weights)  # validates term names before any long work
    corpus, out = _corpus(cfg), _check_out(cfg)
    t0 = time.time()
    teacher = load_text_teacher(cfg.teacher)
    fingerprint = teacher_fingerprint(teacher)
    model = _student(cfg, teacher.embed_dim)
    if not cfg.quiet:
        print(f"{len(corpus)} parallel rows ({cfg.source_lang} + {', '.join(corpus.languages)}; "
              f"{corpus.dropped_excluded} excluded, {corpus.dropped_empty} empty); teacher {teacher.label}", flush=True)
    teacher_meta = {**teacher.describe(), "fingerprint": fingerprint}
    t_src = teacher_source_embeddings(teacher, fingerprint, corpus.source, out / CACHE_NAME, cfg.quiet)
    del teacher
    ids = {cfg.source_lang: _tokenize(corpus.source, cfg.max_tokens)}
    ids.update({lang: _tokenize(v, cfg.max_tokens) for lang, v in corpus.translations.items()})
    torch.manual_seed(cfg.seed)
    text = model.text.train()
    logit_scale = torch.nn.Parameter(model.logit_scale.detach().clone())
    opt = _optimizer(cfg, text, logit_scale)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = _resume(cfg, out, text, logit_scale, opt, gen)
    langs, n, b = corpus.languages, len(corpus), min(cfg.batch_size, len(corpus))
    terms = {}
    for step in range(start, cfg.steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, step)
        rows = torch.randperm(n, generator=gen)[:b]
        emb = text(_batch(ids, langs, cfg.source_lang, rows, gen, text.eot_token_id))
        total, terms = loss_fn(emb[:b], emb[b:], t_src[rows], logit_scale.exp().clamp(max=100))
        if not torch.isfinite(total):
            raise MobileClipError(f"non-finite loss at step {step}; lower --lr")
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(text.parameters(), 1.0)
        opt.step()
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            row = {"step": done, "lr": f"{_lr_at(cfg, step):.3g}", "loss": f"{total.item():.4f}",
                   **{k: f"{v.item():.4f}" for k, v in terms.items()}, "logit_scale": f"{logit_scale.exp().item():.2f}",
                   "seconds": f"{time.time() - t0:.0f}"}
            _log(out, row, first=True)
            if not cfg.quiet:
                print("  " + " ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        if done % cfg.save_every == 0 and done < cfg.steps:
            _save_last(out, done, text, logit_scale, opt, gen, cfg)
    final = {k: v.item() for k, v in terms.items()}
    path = save_text_checkpoint(out / FINAL_NAME, text.eval(), model.config, logit_scale.exp().item(), teacher_meta,
                                [cfg.source_lang, *langs],
                                extra={"train_config": asdict(cfg), "rows": len(corpus), "final_terms": final})
    (out / LAST_NAME).unlink(missing_ok=True)
    return {"checkpoint": str(path), "steps": cfg.steps, "final_terms": final, "seconds": time.time() - t0}


def parse_args(argv=None) -> TextTrainConfig:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parallel", nargs="+", required=True,
                   help="aligned files <prefix>.<lang>, the source language among them (e.g. train.{en,de,fr})")
    add_teacher(p, None, required=True, help="CLIP teacher (hub name / save_pretrained dir) or a local "
                "Hugging Face sentence-encoder directory")
    p.add_argument("--out", required=True, help="run folder: log.csv, last.pt, text_student.pt")
    p.add_argument("--model", default=TextTrainConfig.model, help="registry config whose text tower is trained")
    p.add_argument("--text-overrides", default="{}", help="JSON merged into the config's text_cfg")
    p.add_argument("--source-lang", default="en", help="language the teacher reads (file suffix)")
    p.add_argument("--exclude-images", default=None, help="image,caption CSV or list of image names whose "
                   "parallel rows are kept out of training (reads <prefix>.images.txt)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows (smoke runs)")
    p.add_argument("--max-tokens", type=int, default=TextTrainConfig.max_tokens, help="training token budget per text")
    p.add_argument("--steps", type=int, default=TextTrainConfig.steps)
    p.add_argument("--batch-size", type=int, default=TextTrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TextTrainConfig.lr)
    p.add_argument("--weight-decay", type=float, default=TextTrainConfig.weight_decay)
    p.add_argument("--warmup", type=int, default=-1, help="warm-up steps; -1 = 5%% of --steps")
    p.add_argument("--loss-weights", default="{}", help='JSON, e.g. {"contrastive": 1, "fd_source": 1, '
                   '"fd_translation": 1} (0 turns a term off)')
    p.add_argument("--seed", type=int, default=0)
    add_threads(p, 0)
    p.add_argument("--save-every", type=int, default=TextTrainConfig.save_every)
    p.add_argument("--log-every", type=int, default=TextTrainConfig.log_every)
    p.add_argument("--resume", default="auto", help="auto = OUT/last.pt if present; a path; or none")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        overrides, weights = json.loads(a.text_overrides), json.loads(a.loss_weights)
    except ValueError as e:
        p.error(f"--text-overrides / --loss-weights must be JSON ({e})")
    return TextTrainConfig(
        parallel=a.parallel, teacher=a.teacher, out=a.out, model=a.model, text_overrides=overrides,
        source_lang=a.source_lang, exclude_images=a.exclude_images, limit=a.limit, max_tokens=a.max_tokens,
        steps=a.steps, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay, warmup=a.warmup,
        loss_weights=weights, seed=a.seed, threads=a.threads, save_every=a.save_every, log_every=a.log_every,
        resume=a.resume, quiet=a.quiet)


def main(argv=None):
    cfg = parse_args(argv)
    with cli_errors("mobileclip.train_text"):
        res = train_text(cfg)
        print(f"text student -> {res['checkpoint']} ({res['steps']} steps, {res['seconds']:.0f} s)")
        return res


if __name__ == "__main__":
    main()
