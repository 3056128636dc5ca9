"""Train a MobileCLIP student by knowledge distillation from a frozen CLIP teacher (or CLIP from scratch).

    python -m mobileclip.train --train-data data/captions.csv --teacher openai/clip-vit-base-patch32 \\
        --steps 10000 --batch-size 64 --out runs/kd
    torchrun --nproc-per-node 2 -m mobileclip.train ...      # DDP (NCCL on GPUs, gloo on CPU)

Three-phase progressive schedule (KD runs):

1. ``align``  -- feature distillation only: the student (and its KD heads) learn the teacher's embedding
   space for the same images and *real captions*;
2. ``distil`` -- + interactive contrastive (student anchors vs teacher's other modality) and response
   distillation (KL between the teacher's and the student's similarity distributions) [+ affinity mimicking];
3. ``joint``  -- + the student's own CLIP contrastive loss on the captions.

The active terms are balanced automatically by learned uncertainty weights (``--balancer uncertainty``;
every weight is logged to the CSV). ``--no-kd`` trains the same model with the contrastive loss alone
(one phase; the ablation baseline), and is how a proxy teacher (``--arch hf-clip``) is trained; that one
is written with ``save_pretrained`` to ``OUT/hf`` so ``load_teacher(OUT/hf)`` reads it.

Data order and augmentation are deterministic functions of (seed, epoch, sample index), so a run resumed
from ``OUT/last.pt`` (``--resume auto``) continues exactly like an uninterrupted one.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import create_model, get_tokenizer, load_teacher, save_checkpoint
from .batchnorm import recalibrate_bn
from .data import collate_count
from .errors import TrainError, cli_errors
from .fileio import atomic_torch_save
from .hf_proxy import HF_TRAIN_FORMAT, HFClipTrainable, hf_clip_config, hf_config_dict
from .kd import KDModule
from .schedule import ALL_TERMS, Schedule, lr_lambda
from .teacher_cache import TeacherCache
from .tokenizer import trim_padding
from .train_config import PROG, TrainConfig, build_parser, parse_args
from .train_data import PairTransform, SeededView, build_dataset, epoch_batches, item_seed

__all__ = ["PROG", "Run", "TrainConfig", "TrainError", "build_parser", "main", "parse_args", "train"]

LOG_COLUMNS = ["step", "epoch", "phase", "lr", "total", "grad_norm", "step_time_s", "skipped_images",
               "nonfinite_steps"] + ALL_TERMS + [f"w_{t}" for t in ALL_TERMS]


@dataclass
class Run:
    """Everything one training run holds: its (effective) config, models, data, optimiser and progress."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    use_amp: bool
    student: torch.nn.Module = None
    module: KDModule = None
    teacher: torch.nn.Module | None = None
    cache: TeacherCache | None = None
    base: object = None  # the dataset (map-style or streamed)
    view: SeededView | None = None
    indices: torch.Tensor | None = None
    optimizer: torch.optim.Optimizer = None
    scheduler: object = None
    scaler: object = None
    schedule: Schedule = None
    ddp: torch.nn.Module = None
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    skipped_images: int = 0
    nonfinite: int = 0
    phase_stats: dict = field(default_factory=dict)
    step_times: list = field(default_factory=list)
    tb: object = None
    bar: object = None

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def kd(self) -> bool:
        return not self.cfg.no_kd

    @property
    def out(self) -> Path:
        return Path(self.cfg.out)

    @property
    def streaming(self) -> bool:
        return isinstance(self.base, torch.utils.data.IterableDataset)

    @property
    def stop_at(self) -> int:
        return self.cfg.steps if self.cfg.stop_after is None else min(self.cfg.steps, self.cfg.stop_after)

    @property
    def layout(self):
        return torch.channels_last if self.cfg.channels_last == "on" else torch.contiguous_format


# ------------------------------------------------------------------------------------------------ train
def train(cfg: TrainConfig, dataset=None) -> dict:
    """Run training as configured by ``cfg``. ``dataset`` overrides ``cfg.train_data`` with any map-style
    dataset whose items are ``(PIL image, token ids)`` or None (a shallow copy gets the training transform;
    the caller's dataset is not changed). Returns the run's summary (``summary["module"]``: the trained
    :class:`~mobileclip.kd.KDModule`)."""
    run = setup(cfg, dataset)
    restore(run)
    open_log(run)
    while run.step < run.stop_at:
        train_epoch(run)
    return finish(run)


# ------------------------------------------------------------------------------------------------ setup
def _dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def _start_process(cfg: TrainConfig) -> Run:
    """Threads, device and process group; checks that need no model."""
    rank, local_rank, world = _dist_info()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.amp == "on" and device.type != "cuda":
        raise TrainError("--amp on needs a CUDA device (mixed precision is only used on GPUs)")
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise TrainError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None
    return Run(cfg, rank, world, device, use_amp=device.type == "cuda" and cfg.amp != "off")


def _build_student(cfg: TrainConfig) -> torch.nn.Module:
    if cfg.arch == "hf-clip":
        return HFClipTrainable(hf_clip_config(cfg.hf_config, cfg.image_size))
    overrides = json.loads(cfg.model_overrides) if cfg.model_overrides else {}
    if cfg.image_size:
        overrides.setdefault("vision_cfg", {})["image_size"] = cfg.image_size
    student = create_model(cfg.model, **overrides)
    if cfg.init:
        from . import load_checkpoint

        student.load_state_dict(load_checkpoint(cfg.init).state_dict())
    return student


def _build_teacher(run: Run) -> int | None:
    """The online teacher or the teacher cache (KD runs); returns the teacher's embedding size."""
    cfg = run.cfg
    if not run.kd:
        return None
    if cfg.teacher_cache:
        run.cache = TeacherCache(cfg.teacher_cache)
        if cfg.aug_variants not in (0, run.cache.variants):
            raise TrainError(f"--aug-variants {cfg.aug_variants} != the cache's {run.cache.variants} variants")
        run.cfg = cfg.replace(aug_variants=run.cache.variants)  # the run's effective config, not the caller's
        return run.cache.embed_dim
    run.teacher = load_teacher(cfg.teacher, device=run.device)
    return run.teacher.embed_dim


def _build_data(run: Run, dataset):
    cfg, student, tcfg = run.cfg, run.student, run.teacher.preprocess_cfg if run.teacher is not None else None
    same_view = tcfg is not None and all(
        tcfg.get(k) == student.preprocess_cfg.get(k) for k in ("image_size", "mean", "std", "interpolation"))
    transform = PairTransform(student.preprocess_cfg, None if (tcfg is None or same_view) else tcfg,
                              train=True, scale=cfg.crop_scale)
    if dataset is None:
        run.base = build_dataset(cfg.train_data, transform, get_tokenizer(), cfg.templates, run.rank, run.world,
                                 cfg.seed)
    else:
        run.base = copy.copy(dataset)
        if hasattr(run.base, "transform"):
            run.base.transform = transform
    if run.streaming and (run.cache is not None or cfg.train_subset < 1.0):
        raise TrainError("tar shards are streamed: --teacher-cache and --train-subset need a captions CSV or a "
                         "class folder (random access)")
    n_total = 0 if run.streaming else len(run.base)
    run.indices = torch.arange(n_total)
    if cfg.train_subset < 1.0:
        g = torch.Generator().manual_seed(cfg.subset_seed)
        run.indices = torch.randperm(n_total, generator=g)[:max(1, round(cfg.train_subset * n_total))].sort().values
    if run.cache is not None:
        run.cache.check(str(cfg.train_data), n_total, cfg.seed, cfg.crop_scale, student.preprocess_cfg.get("image_size"))
    run.view = None if run.streaming else SeededView(run.base, cfg.seed)


def _param_groups(module: KDModule, lr: float, balancer_lr: float, wd: float):
    decay, no_decay, bal = [], [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("balancer."):
            bal.append(p)
        elif p.ndim < 2 or "logit_scale" in name or "embedding" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": wd, "lr": lr}, {"params": no_decay, "weight_decay": 0.0, "lr": lr}]
    if bal:
        groups.append({"params": bal, "weight_decay": 0.0, "lr": balancer_lr})
    return groups


def _build_optimisation(run: Run):
    cfg = run.cfg
    # fused: one kernel for all parameters (8x faster than the per-tensor loop on CPU, same update rule)
    run.optimizer = torch.optim.AdamW(_param_groups(run.module, cfg.lr, cfg.balancer_lr, cfg.weight_decay),
                                      lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
                                      fused=run.device.type in ("cpu", "cuda"))
    warmup = max(1, round(0.05 * cfg.steps)) if cfg.warmup < 0 else max(1, cfg.warmup)
    sched_fn = lr_lambda(warmup, cfg.steps, cfg.min_lr_ratio)
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, [sched_fn] * len(run.optimizer.param_groups))
    run.scaler = torch.amp.GradScaler("cuda", enabled=run.use_amp)
    run.schedule = Schedule(cfg.steps, run.kd, cfg.align_steps, cfg.distil_steps, cfg.affinity)


def setup(cfg: TrainConfig, dataset=None) -> Run:
    """Process, seeds, student, teacher (or cache), KD module, data, optimiser and schedule."""
    run = _start_process(cfg)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    student = _build_student(cfg)
    teacher_dim = _build_teacher(run)
    cfg = run.cfg
    run.module = KDModule(student, teacher_dim, cfg.fd_loss, cfg.temperature, cfg.balancer, cfg.affinity).to(run.device)
    run.student = run.module.student
    run.student.to(memory_format=run.layout)  # only 4-D (conv) weights change layout
    _build_data(run, dataset)
    _build_optimisation(run)
    return run


# ---------------------------------------------------------------------------------------------- restore
def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2],
          "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)), "numpy_pos": int(np.random.get_state()[2])}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict):
    torch.set_rng_state(st["torch"])
    random.setstate((3, tuple(st["python"]), st["python_pos"]))
    np.random.set_state(("MT19937", st["numpy"].numpy().astype(np.uint32), st["numpy_pos"], 0, 0.0))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _resume_path(run: Run) -> Path | None:
    resume = run.cfg.resume
    if resume in ("none", "", None):
        return None
    path = run.out / "last.pt" if resume == "auto" else Path(resume)
    if resume != "auto" and not path.is_file():
        raise TrainError(f"--resume {path}: no such checkpoint")
    return path if path.is_file() else None


def restore(run: Run):
    """Continue from ``OUT/last.pt`` (or ``--resume PATH``) when there is one; then wrap the module in DDP."""
    path = _resume_path(run)
    if path is not None:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        ts = payload.get("extra", {}).get("train_state") if payload.get("format") != HF_TRAIN_FORMAT \
            else payload["train_state"]
        if not ts:
            raise TrainError(f"{path} has no train_state to resume from")
        (run.student.clip if run.cfg.arch == "hf-clip" else run.student).load_state_dict(payload["state_dict"])
        if ts.get("heads") is not None:
            run.module.heads.load_state_dict(ts["heads"])
        run.module.balancer.load_state_dict(ts["balancer"])
        run.optimizer.load_state_dict(ts["optimizer"])
        run.scheduler.load_state_dict(ts["scheduler"])
        if ts.get("scaler"):
            run.scaler.load_state_dict(ts["scaler"])
        run.step, run.epoch, run.batch_in_epoch = ts["step"], ts["epoch"], ts["batch_in_epoch"]
        run.skipped_images, run.nonfinite = ts["skipped_images"], ts["nonfinite_steps"]
        _set_rng_state(ts["rng"][run.rank] if run.rank < len(ts["rng"]) else ts["rng"][0])
        if run.is_main:
            print(f"resumed from {path} at step {run.step} (phase {run.schedule.phase_at(run.step)}, "
                  f"epoch {run.epoch})", flush=True)
    run.ddp = run.module
    if run.distributed:
        run.ddp = torch.nn.parallel.DistributedDataParallel(
            run.module, device_ids=[run.device.index] if run.device.type == "cuda" else None,
            find_unused_parameters=True)


# ------------------------------------------------------------------------------------------------- save
def train_state(run: Run) -> dict:
    """Everything a resume needs (collective in DDP: every rank calls it)."""
    rngs = [None] * run.world
    st = _rng_state()
    if run.distributed:
        torch.distributed.all_gather_object(rngs, st)
    else:
        rngs = [st]
    m = run.module
    return {"step": run.step, "epoch": run.epoch, "batch_in_epoch": run.batch_in_epoch,
            "phase": run.schedule.phase_at(run.step), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict() if run.use_amp else None,
            "balancer": m.balancer.state_dict(), "heads": m.heads.state_dict() if m.heads is not None else None,
            "skipped_images": run.skipped_images, "nonfinite_steps": run.nonfinite, "rng": rngs,
            "args": run.cfg.as_record()}


def save(run: Run, path: Path, final: bool = False, weights_only: bool = False):
    ts = train_state(run)  # collective in DDP: every rank calls it
    if not run.is_main:
        return
    student = run.student
    if run.cfg.arch == "hf-clip":
        atomic_torch_save({"format": HF_TRAIN_FORMAT, "hf_config": hf_config_dict(student.clip.config),
                           "state_dict": {k: v.detach().cpu() for k, v in student.clip.state_dict().items()},
                           "train_state": ts}, path)
        if final:
            student.clip.save_pretrained(run.out / "hf")
        return
    heads = run.module.heads
    teacher = (run.teacher.label if run.teacher is not None else
               run.cache.meta.get("teacher") if run.cache is not None else None)
    extra = {"kd_heads": heads.checkpoint_state() if heads is not None else None,
             "train_state": ts if not weights_only else {"step": ts["step"], "args": ts["args"]},
             "teacher": teacher, "kd": run.kd}
    save_checkpoint(student, path, extra=extra)


# -------------------------------------------------------------------------------------------------- log
def _reset_log_csv(run: Run):
    log_path = run.out / "log.csv"
    if run.step == 0 or not log_path.is_file():
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_COLUMNS)
        return
    with open(log_path, newline="") as f:  # resumed: drop rows logged after the checkpoint
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= run.step]
    with open(log_path, "w", newline="") as f:
        w = csv.DictWriter(f, LOG_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def open_log(run: Run):
    """``OUT/log.csv`` (truncated to the resumed step), TensorBoard, the start line and the progress bar."""
    cfg = run.cfg
    if run.is_main:
        run.out.mkdir(parents=True, exist_ok=True)
        _reset_log_csv(run)
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            run.tb = SummaryWriter(str(run.out / "tb"))
        data = "streamed tar shards" if run.streaming else f"{len(run.indices)} samples"
        source = "teacher cache " + str(cfg.teacher_cache) if run.cache else \
            "teacher " + (run.teacher.label if run.teacher else "-")
        print(f"training {getattr(run.student, 'config', {}).get('name', cfg.arch)} on {run.device} "
              f"({run.world} process{'es' if run.world > 1 else ''}), {data}, {cfg.steps} steps, "
              f"phases {run.schedule.phases}, {source}", flush=True)
    if run.is_main and not cfg.quiet:
        from tqdm import tqdm

        run.bar = tqdm(total=cfg.steps, initial=run.step, desc="train", dynamic_ncols=True)
    run.module.train()
    if run.teacher is not None:
        run.teacher.eval()


def _log_row(run: Run, phase: str, total: float, grad_norm: float, vals: dict):
    weights = run.module.balancer.weights()
    row = {"step": run.step, "epoch": run.epoch, "phase": phase, "lr": f"{run.scheduler.get_last_lr()[0]:.6g}",
           "total": f"{total:.6g}", "grad_norm": f"{grad_norm:.6g}", "step_time_s": f"{run.step_times[-1]:.4f}",
           "skipped_images": run.skipped_images, "nonfinite_steps": run.nonfinite}
    row.update({k: f"{vals[k]:.6g}" for k in vals})
    row.update({f"w_{k}": f"{weights[k]:.6g}" for k in vals})
    with open(run.out / "log.csv", "a", newline="") as f:
        csv.DictWriter(f, LOG_COLUMNS).writerow(row)
    if run.tb is not None:
        for k, v in vals.items():
            run.tb.add_scalar(f"loss/{k}", v, run.step)
            run.tb.add_scalar(f"weight/{k}", weights[k], run.step)
        run.tb.add_scalar("lr", run.scheduler.get_last_lr()[0], run.step)


def _print_phase(phase, schedule, stats, weights):
    a, b = schedule.bounds()[phase]
    parts = []
    for k, v in stats.items():
        n = max(1, len(v) // 10)
        parts.append(f"{k} {np.mean(v[:n]):.4f}->{np.mean(v[-n:]):.4f} (w {weights[k]:.3g})")
    print(f"phase {phase} [steps {a}-{b}]: " + ", ".join(parts), flush=True)


def after_step(run: Run, phase: str, total: float, grad_norm: float, vals: dict):
    """Per-phase statistics, the CSV/TensorBoard row, the progress bar, the phase summary, the periodic save."""
    st = run.phase_stats.setdefault(phase, {})
    for k, v in vals.items():
        st.setdefault(k, []).append(v)
    step, stop_at, next_phase = run.step, run.stop_at, run.schedule.phase_at(run.step)
    if run.is_main and (step % run.cfg.log_every == 0 or step == stop_at or next_phase != phase):
        _log_row(run, phase, total, grad_norm, vals)
    if run.bar is not None:
        run.bar.update(1)
        run.bar.set_postfix({"phase": phase, "loss": f"{total:.3f}",
                             **{k: f"{v:.3f}" for k, v in list(vals.items())[:3]}})
    if run.is_main and next_phase != phase:
        _print_phase(phase, run.schedule, st, run.module.balancer.weights())
    if step % run.cfg.save_every == 0 and step < stop_at:
        save(run, run.out / "last.pt")


# ------------------------------------------------------------------------------------------------- loop
def _synced(run: Run, iterator):
    """Stop every rank together when any rank's stream runs out (shards split unevenly)."""
    for item in iterator:
        if run.distributed:
            more = torch.tensor([1.0])
            torch.distributed.all_reduce(more, op=torch.distributed.ReduceOp.MIN)
            if more.item() == 0:
                return
        yield item
    if run.distributed:
        torch.distributed.all_reduce(torch.tensor([0.0]), op=torch.distributed.ReduceOp.MIN)


def _all_ranks_min(run: Run, value: float) -> float:
    t = torch.tensor([value])
    if run.distributed:
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
    return t.item()


def _map_loader(run: Run, epoch: int, first_batch: int = 0, workers: int | None = None):
    """Seeded, drop-last batches of this rank for ``epoch`` over the (subset) indices, from ``first_batch``."""
    cfg = run.cfg
    batches = epoch_batches(len(run.indices), cfg.batch_size, cfg.seed, epoch, run.rank, run.world)
    batches = [[int(run.indices[j]) for j in b] for b in batches]
    return torch.utils.data.DataLoader(run.view, batch_sampler=batches[first_batch:], collate_fn=collate_count,
                                       num_workers=cfg.workers if workers is None else workers)


def epoch_loader(run: Run, variant: int):
    """``(batch or None, n_dropped)`` items of the current epoch from its current position."""
    cfg = run.cfg
    if not run.streaming:
        run.view.variant = variant
        return _map_loader(run, run.epoch, run.batch_in_epoch)
    # streamed: shard order and augmentation seeded per epoch; resume replays the stream to its position
    run.base.set_epoch(run.epoch)
    torch.manual_seed(item_seed(cfg.seed, variant, run.rank))
    loader = _synced(run, iter(torch.utils.data.DataLoader(run.base, batch_size=cfg.batch_size, drop_last=True,
                                                          num_workers=cfg.workers, collate_fn=collate_count)))
    for _ in range(run.batch_in_epoch):
        next(loader, None)
    return loader


def _teacher_outputs(run: Run, variant: int, idx, t_images, ids, active) -> dict | None:
    if not run.kd or active == ["contrastive"]:
        return None
    if run.cache is not None:
        return run.cache.lookup(variant, idx, run.device)
    with torch.no_grad(), torch.autocast(run.device.type, enabled=run.use_amp):
        t_out = run.teacher(t_images, ids)
    return {k: t_out[k].float() for k in ("image_embeds", "text_embeds", "logit_scale")}


def _skip_nonfinite(run: Run):
    run.nonfinite += 1
    run.optimizer.zero_grad(set_to_none=True)
    if run.use_amp:
        run.scaler.update()
    limit = run.cfg.max_nonfinite
    if run.is_main:
        print(f"step {run.step}: non-finite loss/gradient, step skipped ({run.nonfinite}/{limit})",
              file=sys.stderr, flush=True)
    if run.nonfinite >= limit:
        raise TrainError(f"{run.nonfinite} non-finite steps (limit --max-nonfinite {limit}); "
                         f"lower --lr or check the data")


def train_step(run: Run, batch, variant: int, t0: float):
    """One optimiser step on ``batch``; returns ``(phase, total, grad_norm, terms)`` or None (non-finite, skipped)."""
    images, ids, idx = batch
    ids = trim_padding(ids).to(run.device)
    if isinstance(images, (list, tuple)):
        s_images, t_images = images[0].to(run.device), images[1].to(run.device)
    else:
        s_images = t_images = images.to(run.device)
    s_images = s_images.contiguous(memory_format=run.layout)
    phase = run.schedule.phase_at(run.step)
    active = run.schedule.terms(phase)
    t_out = _teacher_outputs(run, variant, idx, t_images, ids, active)
    with torch.autocast(run.device.type, enabled=run.use_amp):
        total, terms, _ = run.ddp(s_images, ids, active, t_out)
    opt, scaler = run.optimizer, run.scaler
    opt.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    scaler.unscale_(opt)
    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
    clip = run.cfg.grad_clip if run.cfg.grad_clip > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
    if _all_ranks_min(run, float(torch.isfinite(total).item() and torch.isfinite(grad_norm).item())) == 0:
        _skip_nonfinite(run)
        return None
    scaler.step(opt)
    scaler.update()
    run.scheduler.step()
    with torch.no_grad():
        run.student.logit_scale.clamp_(0, math.log(100))
    run.step += 1
    run.step_times.append(time.perf_counter() - t0)
    return phase, float(total.detach()), float(grad_norm), {k: float(v.detach()) for k, v in terms.items()}


def train_epoch(run: Run):
    """Steps until the epoch's batches run out (next epoch) or the run reaches its stop step."""
    cfg = run.cfg
    variant = run.epoch % cfg.aug_variants if cfg.aug_variants else run.epoch
    seen = 0
    for batch, dropped in epoch_loader(run, variant):
        seen += 1
        t0 = time.perf_counter()
        run.skipped_images += dropped
        has_data = _all_ranks_min(run, 0.0 if batch is None else 1.0)
        run.batch_in_epoch += 1
        if has_data == 0:
            continue
        result = train_step(run, batch, variant, t0)
        if result is None:
            continue
        after_step(run, *result)
        if run.step >= run.stop_at:
            return
    if run.streaming and seen == 0 and run.batch_in_epoch == 0:
        raise TrainError(f"{cfg.train_data}: the shards hold fewer than one batch of readable samples")
    run.epoch += 1
    run.batch_in_epoch = 0


# ----------------------------------------------------------------------------------------------- finish
def _student_images(run: Run):
    """The student's training images of epoch 0 (augmentation variant 0), batch by batch, for precise BN."""
    cfg = run.cfg
    if run.streaming:
        torch.manual_seed(item_seed(cfg.seed, 0, run.rank))
        it = torch.utils.data.DataLoader(run.base, batch_size=cfg.batch_size, collate_fn=collate_count)
    else:
        run.view.variant = 0
        it = _map_loader(run, 0)
    for batch, _ in it:
        if batch is not None:
            yield batch[0][0] if isinstance(batch[0], (list, tuple)) else batch[0]


def _summary(run: Run, final: bool) -> dict:
    st = run.step_times
    mean_step = float(np.mean(st[min(2, len(st) - 1):])) if st else float("nan")
    return {"step": run.step, "finished": final, "skipped_images": run.skipped_images,
            "nonfinite_steps": run.nonfinite, "mean_step_time_s": mean_step, "out": str(run.out),
            "balancer_weights": run.module.balancer.weights(), "phases": run.schedule.phases}


def finish(run: Run) -> dict:
    """Precise BN, the last phase's summary, the final checkpoints, the summary dict (and zero-shot)."""
    cfg, out = run.cfg, run.out
    if run.bar is not None:
        run.bar.close()
    final = run.step >= cfg.steps
    if final and cfg.bn_recalibrate > 0:
        n_bn = recalibrate_bn(run.student, _student_images(run), cfg.bn_recalibrate, run.device, run.distributed)
        if run.is_main and n_bn:
            print(f"BatchNorm statistics re-estimated over {n_bn} training batches (precise BN)", flush=True)
    if final and run.is_main and run.phase_stats:
        last_phase = run.schedule.phase_at(run.step - 1)
        _print_phase(last_phase, run.schedule, run.phase_stats.get(last_phase, {}), run.module.balancer.weights())
    save(run, out / "last.pt", final=final)
    if final and cfg.arch != "hf-clip":
        save(run, out / "final.pt", weights_only=True)
    if run.distributed:
        torch.distributed.barrier()
    if run.tb is not None:
        run.tb.close()
    summary = _summary(run, final)
    if run.is_main:
        if hasattr(run.base, "skipped"):
            from .data import skip_report

            print(f"unreadable images: {skip_report(run.base)}", flush=True)
        print(f"done: step {run.step}/{cfg.steps}, skipped {run.skipped_images} unreadable image(s), "
              f"{run.nonfinite} non-finite step(s), mean step {summary['mean_step_time_s'] * 1e3:.1f} ms; "
              f"checkpoint {out / 'last.pt'}" + (f", teacher dir {out / 'hf'}" if final and cfg.arch == "hf-clip"
                                                  else ""), flush=True)
        if final and cfg.zeroshot:
            summary["zeroshot"] = _zeroshot(cfg, out)
    summary["module"] = run.module
    return summary


def _zeroshot(cfg: TrainConfig, out: Path) -> dict:
    from .eval import load_encoder, zero_shot

    enc = load_encoder(str(out / "hf") if cfg.arch == "hf-clip" else str(out / "final.pt"))
    res = zero_shot(enc, cfg.zeroshot, templates=cfg.templates)
    print(f"zero-shot top-1 on {cfg.zeroshot}: {100 * res['top1']:.2f}% (n={res['n']})", flush=True)
    return {k: res[k] for k in ("top1", "top5", "n")}


def main(argv=None):
    cfg = parse_args(argv)
    with cli_errors("mobileclip.train"):
        try:
            train(cfg)
        finally:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
