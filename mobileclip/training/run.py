"""One training run's state (:class:`Run`) and its setup: process, seeds, student, teacher or teacher cache,
KD module, data, optimiser and phase schedule."""
from __future__ import annotations

import copy
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.factory import DEFAULT_MODEL, create_model
from ..models.tokenizer import get_tokenizer
from ..models.teacher import DEFAULT_TEACHER, load_teacher
from ..data.shards import TarShards
from ..utils.cli import set_threads
from .distributed import GatherSpec
from ..utils.errors import TrainError
from .precision import Precision, precision_for
from ..utils.validate import check_device
from .config import TrainConfig
from .data import PairTransform, SeededAugment, SeededView, build_dataset, is_tar_shards, subset_indices
from .hf_proxy import HFClipTrainable, hf_clip_config
from .kd import KDModule
from .schedule import Schedule, loss_families, lr_lambda
from .teacher_cache import StreamedTeacherCache, TeacherCache


@dataclass
class Run:
    """Everything one training run holds: its (effective) config, models, data, optimiser and progress."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    prec: Precision
    gather: GatherSpec
    student: torch.nn.Module = None
    module: KDModule = None
    teacher: torch.nn.Module | None = None
    cache: TeacherCache | StreamedTeacherCache | None = None
    base: object = None  # the dataset (map-style or streamed)
    view: SeededView | None = None
    indices: torch.Tensor | None = None
    optimizer: torch.optim.Optimizer = None
    scheduler: object = None
    scaler: object = None
    schedule: Schedule = None
    families: list = field(default_factory=list)  # the loss families trained (--loss-terms)
    ddp: torch.nn.Module = None
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    skipped_images: int = 0
    nonfinite: int = 0
    saved_step: int | None = None  # the step OUT/last.pt holds (None: no last.pt of this run yet)
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
    def use_amp(self) -> bool:
        """Whether losses go through the (enabled) GradScaler: fp16 autocast."""
        return self.prec.scaler

    @property
    def layout(self):
        return torch.channels_last if self.cfg.channels_last == "on" else torch.contiguous_format



# ------------------------------------------------------------------------------------------------ setup
def dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def _start_process(cfg: TrainConfig) -> Run:
    """Threads, device and process group; checks that need no model."""
    rank, local_rank, world = dist_info()
    set_threads(cfg.threads)  # at most the cores (a warning if lowered)
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = check_device(cfg.device, "--device")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    precision = cfg.precision if cfg.precision != "auto" else "amp" if device.type == "cuda" else "fp32"
    try:
        prec = precision_for(precision, device)
        gather = GatherSpec.from_process_group(cfg.local_loss, cfg.gather_with_grad)
    except ValueError as e:
        raise TrainError(str(e)) from None
    if cfg.accum_freq < 1:
        raise TrainError(f"--accum-freq must be >= 1, not {cfg.accum_freq}")
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise TrainError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None
    return Run(cfg, rank, world, device, prec, gather)


def _overrides(cfg: TrainConfig) -> dict:
    overrides = json.loads(cfg.model_overrides) if cfg.model_overrides else {}
    if cfg.image_size:
        overrides.setdefault("vision_cfg", {})["image_size"] = cfg.image_size
    return overrides


def _init_student(cfg: TrainConfig) -> torch.nn.Module:
    """``--init CKPT``: the checkpoint's model (its own config, with --model-overrides/--image-size merged in)
    holding the checkpoint's weights."""
    from ..models.checkpoint import read_checkpoint
    from ..models.factory import check_overrides, create_model_from_config, merge_config

    payload = read_checkpoint(cfg.init)  # one line for a missing, damaged or foreign file
    config = payload["model_config"]
    name = config.get("name")
    check_overrides(config, json.loads(cfg.model_overrides) if cfg.model_overrides else {}, "--model-overrides")
    if cfg.model not in (DEFAULT_MODEL, name):
        raise TrainError(f"--init {cfg.init} holds a {name!r} model, not --model {cfg.model}; leave --model out "
                         f"to fine-tune the checkpoint's model")
    config = merge_config(config, _overrides(cfg))
    try:
        student = create_model_from_config(config)
        student.load_state_dict(payload["state_dict"])
    except Exception as e:  # an override that changes a weight's shape (layers, width, ...)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainError(f"--init {cfg.init}: its weights do not fit the model with --model-overrides/--image-size "
                         f"({msg[:200]})") from None
    student.config = config
    return student


def _build_student(cfg: TrainConfig) -> torch.nn.Module:
    if cfg.arch == "hf-clip":
        return HFClipTrainable(hf_clip_config(cfg.hf_config, cfg.image_size))
    if cfg.init:
        return _init_student(cfg)
    try:
        return create_model(cfg.model, **_overrides(cfg))
    except (ValueError, TypeError, RuntimeError) as e:  # overrides whose values do not fit each other
        if not (cfg.model_overrides or cfg.image_size):
            raise
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise TrainError(f"--model-overrides/--image-size: {cfg.model} cannot be built with them ({msg})") from None


def _open_cache(cfg: TrainConfig):
    """The in-memory ``.pt`` cache, or (a folder, with tar shards) the per-shard sidecars read as streamed."""
    if not Path(cfg.teacher_cache).is_dir():
        return TeacherCache(cfg.teacher_cache)
    if not is_tar_shards(cfg.train_data):
        raise TrainError(f"--teacher-cache {cfg.teacher_cache} is a folder of per-shard teacher sidecars: "
                         f"--train-data must be the tar shards they were built for")
    from ..data.shards import expand_shards

    return StreamedTeacherCache(cfg.teacher_cache, expand_shards(cfg.train_data), cfg.seed, cfg.crop_scale,
                                keep=cfg.workers + 2)


def _build_teacher(run: Run) -> int | None:
    """The online teacher or the teacher cache (KD runs); returns the teacher's embedding size."""
    cfg = run.cfg
    if not run.kd:
        return None
    if cfg.teacher_cache:
        run.cache = _open_cache(cfg)
        run.cache.check_teacher(None if cfg.teacher == DEFAULT_TEACHER else cfg.teacher)  # a --teacher named: same
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
                                 cfg.seed, cfg.shuffle_buffer, cfg.resample)
    else:
        run.base = copy.copy(dataset)
        if hasattr(run.base, "transform"):
            run.base.transform = transform
    if run.streaming and (isinstance(run.cache, TeacherCache) or cfg.train_subset < 1.0):
        raise TrainError("tar shards are streamed: --train-subset and a .pt --teacher-cache need a captions CSV "
                         "or a class folder (random access); for shards build per-shard teacher sidecars")
    if isinstance(run.cache, StreamedTeacherCache):
        if not isinstance(run.base, TarShards):
            raise TrainError("a folder --teacher-cache (per-shard sidecars) needs tar shards as the training data")
        run.base.augment = SeededAugment(transform, cfg.seed)  # the crops the sidecars were built for
    n_total = 0 if run.streaming else len(run.base)
    run.indices = torch.arange(n_total)
    if cfg.train_subset < 1.0:
        run.indices = subset_indices(n_total, cfg.train_subset, cfg.subset_seed)
    if not run.streaming and len(run.indices) < cfg.batch_size * run.world:  # before the run writes anything
        raise TrainError(f"{len(run.indices)} training samples < --batch-size {cfg.batch_size} x {run.world} "
                         f"process(es): not one batch per epoch")
    if isinstance(run.cache, TeacherCache):
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
    run.scaler = run.prec.grad_scaler()
    run.schedule = Schedule(cfg.steps, run.kd, cfg.align_steps, cfg.distil_steps, run.families)


def setup(cfg: TrainConfig, dataset=None) -> Run:
    """Process, seeds, student, teacher (or cache), KD module, data, optimiser and schedule."""
    run = _start_process(cfg)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    student = _build_student(cfg)
    teacher_dim = _build_teacher(run)
    cfg = run.cfg
    run.families = loss_families(cfg.loss_terms, cfg.affinity) if run.kd else ["contrastive"]
    run.module = KDModule(student, teacher_dim, cfg.fd_loss, cfg.temperature, cfg.balancer, "am" in run.families,
                          gather=run.gather).to(run.device)
    run.student = run.module.student
    run.student.to(memory_format=run.layout)  # only 4-D (conv) weights change layout
    _build_data(run, dataset)
    _build_optimisation(run)
    return run
