"""What a training run is told: :class:`TrainConfig` (Python callers build it directly) and the CLI parser
of ``python -m mobileclip.train`` that fills it (flag ``--foo-bar`` = field ``foo_bar``, same defaults)."""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..models.factory import DEFAULT_MODEL

from ..models.options import TEACHER_SPECS, add_model, add_teacher

from ..models.teacher import DEFAULT_TEACHER
from .schedule import DEFAULT_LOSS_TERMS, loss_families

from ..utils.cli import add_threads
from ..utils.errors import TrainError
from ..utils.validate import check_writable_dir

PROG = "python -m mobileclip.train"
OVERRIDES_EXAMPLE = '{"text_cfg": {"layers": 4, "kernel_sizes": [3, 5, 7, 7]}}'  # --help's example (a test runs it)
MIN_IMAGE_SIZE = 16


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Field order and names are the CLI's (``--help`` documents each); the run records
    them in its checkpoints (``train_state["args"]``)."""

    # data
    train_data: str
    templates: str = "ensemble"
    train_subset: float = 1.0
    subset_seed: int = 0
    crop_scale: tuple[float, float] = (0.9, 1.0)
    aug_variants: int = 0
    workers: int = 0
    shuffle_buffer: int = 0
    resample: bool = False
    # model
    arch: str = "student"  # student | hf-clip
    model: str = DEFAULT_MODEL
    model_overrides: str | None = None  # JSON text merged into the student config
    image_size: int | None = None
    hf_config: str = "tiny"
    init: str | None = None
    # distillation
    teacher: str = DEFAULT_TEACHER
    teacher_cache: str | None = None
    no_kd: bool = False
    align_steps: int = -1
    distil_steps: int = -1
    fd_loss: str = "cosine"
    temperature: float = 2.0
    affinity: bool = False
    loss_terms: str = DEFAULT_LOSS_TERMS
    balancer: str = "uncertainty"
    # optimisation
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    balancer_lr: float = 1e-2
    weight_decay: float = 0.1
    warmup: int = -1
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    precision: str = "auto"  # auto | fp32 | amp | amp_bf16
    accum_freq: int = 1
    gather_with_grad: bool = False
    local_loss: bool = False
    channels_last: str = "on"  # on | off
    max_nonfinite: int = 10
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    # output
    out: str = "runs/train"
    bn_recalibrate: int = 20
    save_every: int = 500
    log_every: int = 10
    resume: str | None = "auto"  # auto | a path | none
    stop_after: int | None = None
    tensorboard: bool = False
    zeroshot: str | None = None
    quiet: bool = False

    def __post_init__(self):
        object.__setattr__(self, "crop_scale", tuple(self.crop_scale))

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "TrainConfig":
        return cls(**vars(ns))

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` (the config itself is frozen)."""
        return dataclasses.replace(self, **changes)

    def to_argv(self) -> list[str]:
        """The ``python -m mobileclip.train`` flags that parse back into this config (non-default fields)."""
        argv = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                argv += [flag] if value else []
            elif isinstance(value, tuple):
                argv += [flag, *map(str, value)]
            else:
                argv += [flag, str(value)]
        return argv

    def command(self) -> str:
        """The equivalent command line."""
        return " ".join([PROG, *self.to_argv()])

    def as_record(self) -> dict:
        """The JSON/checkpoint-friendly dict of every field (tuples as lists), in field order."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


def check_config(cfg: TrainConfig) -> None:
    """Each setting of ``cfg`` that cannot work is one line (:class:`TrainError`), before the model is built."""
    rules = [
        (cfg.steps >= 1, f"--steps must be >= 1, got {cfg.steps} (nothing would be trained)"),
        (cfg.batch_size >= 2, f"--batch-size must be >= 2, got {cfg.batch_size} (BatchNorm and the contrastive "
                               f"loss need at least two samples per batch)"),
        (cfg.lr > 0, f"--lr must be > 0, got {cfg.lr}"),
        (cfg.balancer_lr >= 0, f"--balancer-lr must be >= 0, got {cfg.balancer_lr}"),
        (cfg.weight_decay >= 0, f"--weight-decay must be >= 0, got {cfg.weight_decay}"),
        (cfg.save_every >= 1, f"--save-every must be >= 1, got {cfg.save_every}"),
        (cfg.log_every >= 1, f"--log-every must be >= 1, got {cfg.log_every}"),
        (cfg.workers >= 0, f"--workers must be >= 0, got {cfg.workers}"),
        (cfg.threads >= 0, f"--threads must be >= 0 (0 = torch's default), got {cfg.threads}"),
        (cfg.max_nonfinite >= 1, f"--max-nonfinite must be >= 1, got {cfg.max_nonfinite}"),
        (0 < cfg.train_subset <= 1, f"--train-subset must be in (0, 1], got {cfg.train_subset}"),
        (cfg.grad_clip >= 0, f"--grad-clip must be >= 0 (0 = off), got {cfg.grad_clip}"),
        (0 <= cfg.min_lr_ratio <= 1, f"--min-lr-ratio must be in [0, 1], got {cfg.min_lr_ratio}"),
        (0 < cfg.crop_scale[0] <= cfg.crop_scale[1] <= 1,
         f"--crop-scale MIN MAX must satisfy 0 < MIN <= MAX <= 1, got {list(cfg.crop_scale)}"),
        (cfg.aug_variants >= 0, f"--aug-variants must be >= 0, got {cfg.aug_variants}"),
        (cfg.bn_recalibrate >= 0, f"--bn-recalibrate must be >= 0, got {cfg.bn_recalibrate}"),
        (cfg.temperature > 0, f"--temperature must be > 0, got {cfg.temperature}"),
        (cfg.stop_after is None or cfg.stop_after >= 1, f"--stop-after must be >= 1, got {cfg.stop_after}"),
    ]
    for ok, msg in rules:
        if not ok:
            raise TrainError(msg)
    if not cfg.no_kd:
        loss_families(cfg.loss_terms, cfg.affinity)  # one line if unknown
    if cfg.init is not None:
        if cfg.arch == "hf-clip":
            raise TrainError("--init starts a student from a student checkpoint; --arch hf-clip has no --init")
        if not Path(cfg.init).is_file():
            raise TrainError(f"--init {cfg.init}: checkpoint not found")
    check_writable_dir(cfg.out, "--out")
    _check_model_and_outputs(cfg)


def _check_model_and_outputs(cfg: TrainConfig) -> None:
    """--image-size, --model-overrides (keys checked against the model's config), --device, --zeroshot."""
    from ..models.factory import check_overrides, get_model_config
    from ..utils.validate import check_device, check_zero_shot_classes

    if cfg.image_size is not None and cfg.image_size < MIN_IMAGE_SIZE:
        raise TrainError(f"--image-size must be >= {MIN_IMAGE_SIZE} pixels, got {cfg.image_size}")
    if cfg.model_overrides:
        try:
            overrides = json.loads(cfg.model_overrides)
            if not isinstance(overrides, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise TrainError(f"--model-overrides: not a JSON object ({e})") from None
        if cfg.arch == "student" and cfg.init is None:  # --init: checked against the checkpoint's config
            check_overrides(get_model_config(cfg.model), overrides, "--model-overrides")
    check_device(cfg.device, "--device", allow_auto=True)
    if cfg.zeroshot is not None:
        root = Path(cfg.zeroshot)
        if not root.is_dir():
            raise TrainError(f"--zeroshot {root}: class folder not found (checked before training)")
        check_zero_shot_classes(root, sorted(d.name for d in root.iterdir() if d.is_dir()))


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``python -m mobileclip.train``; ``description``: its ``--help`` text (the command passes
    its docstring in, so that this module does not import the command)."""
    p = argparse.ArgumentParser(prog=PROG, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for add in (_data_args, _model_args, _kd_args, _optim_args, _output_args):
        add(p)
    p.set_defaults(**defaults())  # every default once: the TrainConfig field's
    return p


def defaults() -> dict:
    """``{field: default}`` of :class:`TrainConfig`: the CLI's defaults (set on the parser, not per flag)."""
    return {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def _data_args(p: argparse.ArgumentParser) -> None:
    """Training data options."""
    g = p.add_argument_group("data")
    g.add_argument("--train-data", required=True,
                   help="captions CSV (image,caption; paths relative to the CSV), a class folder "
                        "(<root>/<class>/*.jpg, captions from --templates) or tar shards ('shards-{000..009}.tar')")
    g.add_argument("--templates", help="prompt templates for class folders: ensemble|single")
    g.add_argument("--train-subset", type=float,
                   help="train on this fraction of the dataset (a fixed random subset, --subset-seed)")
    g.add_argument("--subset-seed", type=int, help="seed choosing the --train-subset samples")
    g.add_argument("--crop-scale", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help="RandomResizedCrop area range")
    g.add_argument("--aug-variants", type=int,
                   help="K augmentation variants cycled over epochs (epoch %% K); 0 = a new one every epoch. "
                        "Set by the cache when --teacher-cache is used")
    g.add_argument("--workers", type=int, help="DataLoader worker processes")
    g.add_argument("--shuffle-buffer", type=int, help="tar shards: sample shuffle buffer size (0 = off)")
    g.add_argument("--resample", action="store_true",
                   help="tar shards: draw shards with replacement (an endless stream; epochs end at no boundary)")


def _model_args(p: argparse.ArgumentParser) -> None:
    """Student (or HF proxy teacher) options."""
    m = p.add_argument_group("model")
    m.add_argument("--arch", choices=["student", "hf-clip"],
                   help="student = MobileCLIP from the registry (--model); hf-clip = an HF CLIPModel (--hf-config), "
                        "for training a proxy teacher with --no-kd")
    add_model(m)
    m.add_argument("--model-overrides",
                   help="JSON merged into the student config (keys as in mobileclip/models/model_configs/*.json), e.g. "
                        f"'{OVERRIDES_EXAMPLE}'")
    m.add_argument("--image-size", type=int,
                   help=f"override the model's input size in pixels, >= {MIN_IMAGE_SIZE} (student or hf-clip)")
    m.add_argument("--hf-config", help="hf-clip config: tiny | cpu-vit | CLIPConfig JSON file")
    m.add_argument("--init", help="fine-tune: start from this student checkpoint (final.pt or last.pt): "
                                  "its model and weights, a new run (new optimizer and schedule)")


def _kd_args(p: argparse.ArgumentParser) -> None:
    """Distillation options."""
    k = p.add_argument_group("distillation")
    add_teacher(k, help=f"frozen teacher: {TEACHER_SPECS}")
    k.add_argument("--teacher-cache", help="precomputed teacher embeddings "
                   "(python -m mobileclip.cache_teacher): a .pt file, or for tar shards the folder of their per-shard "
                   "sidecars (streamed); the teacher is not loaded")
    k.add_argument("--no-kd", action="store_true", help="contrastive loss only (CLIP from scratch, ablation baseline)")
    k.add_argument("--align-steps", type=int, help="phase 1 (feature alignment) steps; -1 = 10%% of --steps")
    k.add_argument("--distil-steps", type=int, help="phase 2 (distillation) steps; -1 = 30%% of --steps")
    k.add_argument("--fd-loss", choices=["cosine", "mse"], help="feature distillation distance")
    k.add_argument("--temperature", type=float, help="response distillation temperature")
    k.add_argument("--affinity", action="store_true", help="add intra-modal affinity mimicking in phases 2-3 "
                                                            "(the same as adding am to --loss-terms)")
    k.add_argument("--loss-terms", metavar="FAMILIES",
                   help="loss families trained, comma-separated: contrastive (the student's own CLIP loss), fd "
                        "(feature distillation), icl (interactive contrastive), rd (response distillation), am "
                        "(affinity mimicking); each phase keeps its own among them (align: fd; distil: fd,icl,rd,am; "
                        "joint: all). Without contrastive the student learns from the teacher alone (MobileCLIP's "
                        "weighting). The default is the recipe docs/results.md's KD study measured")
    k.add_argument("--balancer", choices=["uncertainty", "fixed"],
                   help="loss weighting: learned uncertainty weights, or fixed weight 1")


def _optim_args(p: argparse.ArgumentParser) -> None:
    """Optimisation, precision and device options."""
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, help="optimizer steps")
    o.add_argument("--batch-size", type=int, help="per-process batch size")
    o.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    o.add_argument("--balancer-lr", type=float, help="learning rate of the balancer's log-variances")
    o.add_argument("--weight-decay", type=float, help="AdamW weight decay (not on norms/biases/scales)")
    o.add_argument("--warmup", type=int, help="linear warm-up steps; -1 = 5%% of --steps")
    o.add_argument("--min-lr-ratio", type=float, help="cosine floor as a fraction of --lr")
    o.add_argument("--grad-clip", type=float, help="clip the global grad norm (after AMP unscale); 0 = off")
    o.add_argument("--precision", choices=["auto", "fp32", "amp", "amp_bf16"],
                   help="fp32; amp = fp16 autocast + loss scaling (CUDA); amp_bf16 = bf16 autocast (CPU or a GPU "
                        "with bf16); auto = amp on CUDA, else fp32")
    o.add_argument("--accum-freq", type=int,
                   help="micro-batches (of --batch-size) per optimizer step; their embeddings are cached so the "
                        "contrastive negatives span all of them")
    o.add_argument("--gather-with-grad", action="store_true",
                   help="DDP: all-gather embeddings with a differentiable gather (default: other ranks' are constants)")
    o.add_argument("--local-loss", action="store_true",
                   help="DDP: each rank scores only its own samples against all ranks' (needs --gather-with-grad)")
    o.add_argument("--channels-last", choices=["on", "off"],
                   help="image tower and image batches in channels-last memory layout (faster convolutions on CPU "
                        "and tensor cores; the same model up to rounding)")
    o.add_argument("--max-nonfinite", type=int, help="abort after this many NaN/inf steps (each is skipped)")
    o.add_argument("--seed", type=int, help="seed for init, data order and augmentation")
    o.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    add_threads(o, None, "torch CPU threads per process", "default: torch's choice; 1 is much faster on a busy shared CPU")
    o.add_argument("--bn-recalibrate", type=int,
                   help="at the end, re-estimate BatchNorm statistics over N training batches with the final "
                        "weights (precise BN); 0 = off")


def _output_args(p: argparse.ArgumentParser) -> None:
    """Output, checkpointing and logging options."""
    r = p.add_argument_group("output")
    r.add_argument("--out", help="output folder: last.pt, log.csv, final checkpoint")
    r.add_argument("--save-every", type=int, help="checkpoint OUT/last.pt every N steps (and at the end)")
    r.add_argument("--log-every", type=int, help="CSV/tqdm logging interval")
    r.add_argument("--resume", help="auto = continue from OUT/last.pt if present; a path; or 'none'")
    r.add_argument("--stop-after", type=int, help="stop (checkpointed) after this global step, "
                                                               "as if killed; resume later")
    r.add_argument("--tensorboard", action="store_true", help="also log to OUT/tb (needs the tensorboard package)")
    r.add_argument("--zeroshot", help="class folder to evaluate zero-shot top-1 on at the end")
    r.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_args(argv=None, description: str | None = None) -> TrainConfig:
    """Command-line arguments -> :class:`TrainConfig` (``description``: the ``--help`` text)."""
    return TrainConfig.from_namespace(build_parser(description).parse_args(argv))

