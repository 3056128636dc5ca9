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

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import create_model, get_tokenizer, load_teacher, save_checkpoint
from ._torchvision import import_torchvision
from .errors import MobileClipError, cli_errors
from .fileio import atomic_torch_save, remove_stale_temps
from .losses import (AffinityMimicLoss, ClipLoss, FeatureDistillLoss, InteractiveContrastiveLoss, KDHeads,
                     ResponseDistillLoss, UncertaintyBalancer)
from .resume import read_resume_payload
from .runlock import run_lock
from .transform import CLIP_MEAN, CLIP_STD
from .validate import check_train_args

PROG = "python -m mobileclip.train"
FD_TERMS = ["fd_image", "fd_text"]
ICL_TERMS = ["icl_image", "icl_text"]
RD_TERMS = ["rd_i2t", "rd_t2i"]
AM_TERMS = ["am_image", "am_text"]
ALL_TERMS = ["contrastive", *FD_TERMS, *ICL_TERMS, *RD_TERMS, *AM_TERMS]
HF_TRAIN_FORMAT = "mobileclip-kd-hfclip-train"


class TrainError(MobileClipError):
    pass


# ----------------------------------------------------------------------------------------------- schedule
class Schedule:
    """Phases by step: ``[("align", n1), ("distil", n2), ("joint", rest)]``, or one ``contrastive`` phase."""

    def __init__(self, total_steps: int, kd: bool, align_steps: int = -1, distil_steps: int = -1,
                 affinity: bool = False):
        self.total, self.kd, self.affinity = total_steps, kd, affinity
        if not kd:
            self.phases = [("contrastive", total_steps)]
            return
        a = round(0.1 * total_steps) if align_steps < 0 else align_steps
        d = round(0.3 * total_steps) if distil_steps < 0 else distil_steps
        if a + d > total_steps:
            raise TrainError(f"align ({a}) + distil ({d}) steps exceed --steps {total_steps}")
        self.phases = [("align", a), ("distil", d), ("joint", total_steps - a - d)]

    def phase_at(self, step: int) -> str:
        end = 0
        for name, n in self.phases:
            end += n
            if step < end:
                return name
        return self.phases[-1][0]

    def bounds(self) -> dict[str, tuple[int, int]]:
        out, start = {}, 0
        for name, n in self.phases:
            out[name] = (start, start + n)
            start += n
        return out

    def terms(self, phase: str) -> list[str]:
        am = AM_TERMS if self.affinity else []
        return {"contrastive": ["contrastive"], "align": list(FD_TERMS),
                "distil": FD_TERMS + ICL_TERMS + RD_TERMS + am,
                "joint": ["contrastive"] + FD_TERMS + ICL_TERMS + RD_TERMS + am}[phase]


def lr_lambda(warmup: int, total: int, min_ratio: float):
    """Linear warm-up then cosine decay to ``min_ratio`` of the peak learning rate."""
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


# ---------------------------------------------------------------------------------------------- the models
HF_CONFIGS = {
    # conftest-sized: for tests
    "tiny": dict(vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                             image_size=32, patch_size=8),
                 text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
                 projection_dim=32),
    # a small ViT a 2-core CPU trains in minutes on 32-px images (the CIFAR-10 proxy teacher)
    "cpu-vit": dict(vision=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                                image_size=32, patch_size=8),
                    text=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4),
                    projection_dim=128),
}


def hf_clip_config(spec: str, image_size: int | None = None):
    """A ``CLIPConfig`` from a preset name (``tiny``, ``cpu-vit``) or a JSON file (CLIPConfig.to_dict() format)."""
    from transformers import CLIPConfig

    if spec in HF_CONFIGS:
        c = HF_CONFIGS[spec]
        text = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                    pad_token_id=1, **c["text"])
        cfg = CLIPConfig(text_config=text, vision_config=dict(c["vision"]), projection_dim=c["projection_dim"])
    elif os.path.isfile(spec):
        try:
            cfg = CLIPConfig(**json.loads(Path(spec).read_text()))
        except (ValueError, TypeError) as e:
            raise TrainError(f"--hf-config {spec}: not a CLIPConfig JSON ({e})") from None
    else:
        raise TrainError(f"--hf-config {spec!r}: not a preset ({', '.join(HF_CONFIGS)}) nor a JSON file")
    if image_size:
        cfg.vision_config.image_size = image_size
    return cfg


class HFClipTrainable(nn.Module):
    """A trainable HF ``CLIPModel`` with the student's interface (normalised embeddings, log logit scale)."""

    def __init__(self, clip_config):
        super().__init__()
        from transformers import CLIPModel

        self.clip = CLIPModel(clip_config)
        self.embed_dim = clip_config.projection_dim
        self.eot_token_id = clip_config.text_config.eos_token_id
        self.preprocess_cfg = {"image_size": clip_config.vision_config.image_size, "resize_mode": "shortest",
                               "interpolation": "bicubic", "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
        self.label = "hf-clip (training)"

    @property
    def logit_scale(self):
        return self.clip.logit_scale

    def encode_image(self, images):
        return F.normalize(self.clip.visual_projection(self.clip.vision_model(pixel_values=images).pooler_output), dim=-1)

    def encode_text(self, ids):
        eot = (ids == self.eot_token_id).to(torch.int32).argmax(-1)
        mask = (torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]).long()
        out = self.clip.text_model(input_ids=ids.long(), attention_mask=mask)
        return F.normalize(self.clip.text_projection(out.pooler_output), dim=-1)

    def forward(self, images=None, texts=None):
        out = {"logit_scale": self.clip.logit_scale.exp()}
        if images is not None:
            out["image_embeds"] = self.encode_image(images)
        if texts is not None:
            out["text_embeds"] = self.encode_text(texts)
        return out


class KDModule(nn.Module):
    """Student + KD heads + losses + balancer in one module (one DDP wrapper syncs all their gradients)."""

    def __init__(self, student: nn.Module, teacher_dim: int | None, fd_kind: str, temperature: float,
                 balancer: str, affinity: bool):
        super().__init__()
        self.student = student
        self.heads = KDHeads(student.embed_dim, teacher_dim) if teacher_dim else None
        self.clip_loss = ClipLoss()
        self.fd = FeatureDistillLoss(fd_kind)
        self.icl = InteractiveContrastiveLoss()
        self.rd = ResponseDistillLoss(temperature)
        self.am = AffinityMimicLoss(temperature) if affinity else None
        self.balancer = UncertaintyBalancer(ALL_TERMS, mode=balancer)

    def forward(self, images, ids, active: list[str], teacher: dict | None = None):
        out = self.student(images, ids)
        s_img, s_txt, scale = out["image_embeds"], out["text_embeds"], out["logit_scale"]
        terms = {}
        if "contrastive" in active:
            terms.update(self.clip_loss(s_img, s_txt, scale))
        if any(t != "contrastive" for t in active):
            if teacher is None:
                raise TrainError("a KD phase needs teacher embeddings")
            t_img, t_txt, t_scale = teacher["image_embeds"], teacher["text_embeds"], teacher["logit_scale"]
            m_img, m_txt = self.heads.map_image(s_img), self.heads.map_text(s_txt)
            if "fd_image" in active:
                terms.update(self.fd(m_img, m_txt, t_img, t_txt))
            if "icl_image" in active:
                terms.update(self.icl(m_img, m_txt, t_img, t_txt, scale))
            if "rd_i2t" in active:
                terms.update(self.rd(s_img, s_txt, scale, t_img, t_txt, t_scale))
            if "am_image" in active and self.am is not None:
                terms.update(self.am(s_img, s_txt, scale, t_img, t_txt, t_scale))
        total, weighted = self.balancer(terms)
        return total, terms, weighted


# ------------------------------------------------------------------------------------------------- data
class PairTransform:
    """PIL image -> student tensor, or (student, teacher) tensors cut from the *same* random crop.

    Train mode samples the crop box once (RandomResizedCrop parameters) and resizes it to each model's
    size with each model's mean/std, so the teacher sees the same content at its own resolution.
    """

    def __init__(self, student_cfg: dict, teacher_cfg: dict | None = None, train: bool = True,
                 scale=(0.9, 1.0)):
        self.cfgs = [student_cfg] + ([teacher_cfg] if teacher_cfg else [])
        self.train, self.scale = train, tuple(scale)

    def _finish(self, img, cfg):
        T = import_torchvision().transforms
        return T.functional.normalize(T.functional.to_tensor(img), cfg.get("mean", CLIP_MEAN), cfg.get("std", CLIP_STD))

    def __call__(self, img):
        T = import_torchvision().transforms
        img = img.convert("RGB")
        outs = []
        box = T.RandomResizedCrop.get_params(img, self.scale, (3 / 4, 4 / 3)) if self.train else None
        for cfg in self.cfgs:
            size = int(cfg.get("image_size", 224))
            interp = T.InterpolationMode(cfg.get("interpolation", "bicubic"))
            if box is not None:
                x = T.functional.resized_crop(img, *box, [size, size], interpolation=interp)
            else:
                x = T.functional.center_crop(T.functional.resize(img, size, interpolation=interp), size)
            outs.append(self._finish(x, cfg))
        return outs[0] if len(outs) == 1 else tuple(outs)


def item_seed(seed: int, variant: int, index: int) -> int:
    return ((seed * 1_000_003 + variant) * 10_000_019 + index) % (2**63 - 1)


class SeededView(torch.utils.data.Dataset):
    """Map-style dataset wrapper: item ``i`` is transformed with RNGs seeded from (seed, variant, i).

    Returns ``(image(s), ids, i)`` or None for an unreadable sample. ``variant`` is the augmentation
    variant (the epoch, or epoch % K with a K-variant teacher cache).
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed, self.variant = dataset, seed, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        s = item_seed(self.seed, self.variant, int(i))
        state = random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            random.seed(s)
            try:
                item = self.dataset[i]
            finally:
                random.setstate(state)
        if item is None:
            return None
        return item[0], item[1], int(i)


def collate_count(batch):
    """Drop unreadable samples (None) and say how many were dropped: ``(collated or None, n_dropped)``."""
    good = [b for b in batch if b is not None]
    dropped = len(batch) - len(good)
    return (torch.utils.data.default_collate(good) if good else None), dropped


def collate_train(batch):
    """:func:`collate_count` for training: a batch left with one readable sample is skipped as well
    (BatchNorm in train mode cannot normalise a batch of one)."""
    collated, dropped = collate_count(batch)
    return (collated if collated is not None and len(collated[-1]) >= 2 else None), dropped


def epoch_batches(n_indices: int, batch_size: int, seed: int, epoch: int, rank: int, world: int) -> list[list[int]]:
    """This rank's batches (positions into the training index list) for ``epoch``; drop-last, same count per rank."""
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    perm = torch.randperm(n_indices, generator=g)
    per_step = batch_size * world
    usable = (n_indices // per_step) * per_step
    if usable == 0:
        raise TrainError(f"{n_indices} training samples < batch size {batch_size} x {world} processes")
    mine = perm[:usable][rank::world]
    return [mine[i:i + batch_size].tolist() for i in range(0, len(mine), batch_size)]


def build_dataset(path: str, transform, tokenizer, templates: str = "ensemble", rank: int = 0, world: int = 1,
                  seed: int = 0):
    """CSV (image,caption) | class folder (captions from templates) | tar shards (pattern with .tar)."""
    from . import data

    p = Path(path)
    if ".tar" in p.name or (p.is_dir() and any(p.glob("*.tar"))):
        return data.TarShards(str(path), transform, tokenizer, rank=rank, world_size=world, shuffle_shards=True,
                              seed=seed)
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise TrainError(f"caption CSV not found: {path}")
        return data.CaptionCsv(str(path), transform, tokenizer)
    if p.is_dir():
        from .templates import get_templates

        return data.ClassFolder(str(path), transform, tokenizer, get_templates(templates), train=True)
    raise TrainError(f"--train-data {path}: expected a captions .csv, a class folder or .tar shards")


def trim_padding(ids: torch.Tensor, eot: int = 49407) -> torch.Tensor:
    """Drop the all-padding tail: both towers are causal/masked and pool at EOT, so this is exact."""
    last = int((ids == eot).to(torch.int32).argmax(-1).max()) + 1
    return ids[:, :last]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches, max_batches: int, device, distributed: bool = False) -> int:
    """Precise BatchNorm: re-estimate every BN layer's running statistics as the plain average over
    ``max_batches`` training batches with the *final* weights (eval-mode BN otherwise uses running stats
    that lag behind fast-moving weights -- torchvision's MobileNetV3 uses momentum 0.01 -- and a short run
    can collapse to one output for every image). Only the image tower has BN. Returns batches used."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns or max_batches <= 0:
        return 0
    momenta = [m.momentum for m in bns]
    was_training = model.training
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    used = 0
    for images in batches:
        model.encode_image(images.to(device))
        used += 1
        if used >= max_batches:
            break
    for m, mom in zip(bns, momenta):
        m.momentum = mom
        if distributed:
            for buf in (m.running_mean, m.running_var):
                torch.distributed.all_reduce(buf)
                buf /= torch.distributed.get_world_size()
    model.train(was_training)
    return used


# ------------------------------------------------------------------------------------------------- cache
class TeacherCache:
    """Precomputed teacher embeddings (``python -m mobileclip.cache_teacher``) looked up by (variant, index)."""

    FORMAT = "mobileclip-kd-teacher-cache"

    def __init__(self, path: str | os.PathLike):
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise TrainError(f"teacher cache not found: {path}") from None
        except Exception as e:
            raise TrainError(f"{path}: unreadable teacher cache ({type(e).__name__})") from None
        if not isinstance(d, dict) or d.get("format") != self.FORMAT:
            raise TrainError(f"{path} is not a {self.FORMAT} file")
        self.meta = {k: v for k, v in d.items() if not isinstance(v, torch.Tensor)}
        self.image, self.text, self.covered = d["image_embeds"], d["text_embeds"], d["covered"]
        self.variants, self.embed_dim = self.image.shape[0], self.image.shape[-1]
        self.logit_scale = float(d["logit_scale"])

    def check(self, data_path: str, n: int, seed: int, scale, student_size):
        m = self.meta
        problems = []
        if os.path.abspath(m["data"]) != os.path.abspath(data_path):
            problems.append(f"data {m['data']} != {data_path}")
        if m["n"] != n:
            problems.append(f"{m['n']} samples != {n}")
        if m["seed"] != seed:
            problems.append(f"augmentation seed {m['seed']} != --seed {seed}")
        if list(m["crop_scale"]) != list(scale):
            problems.append(f"crop scale {m['crop_scale']} != {list(scale)}")
        if problems:
            raise TrainError("teacher cache does not match this run: " + "; ".join(problems))

    def lookup(self, variant: int, indices: torch.Tensor, device) -> dict:
        v = variant % self.variants
        if not bool(self.covered[indices].all()):
            raise TrainError("teacher cache has no entry for some training samples (built on another subset?)")
        return {"image_embeds": self.image[v, indices].float().to(device),
                "text_embeds": self.text[v, indices].float().to(device),
                "logit_scale": torch.tensor(self.logit_scale, device=device)}


# --------------------------------------------------------------------------------------------------- args
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--train-data", required=True,
                   help="captions CSV (image,caption; paths relative to the CSV), a class folder "
                        "(<root>/<class>/*.jpg, captions from --templates) or tar shards ('shards-{000..009}.tar')")
    g.add_argument("--templates", default="ensemble", help="prompt templates for class folders: ensemble|single")
    g.add_argument("--train-subset", type=float, default=1.0,
                   help="train on this fraction of the dataset (a fixed random subset, --subset-seed)")
    g.add_argument("--subset-seed", type=int, default=0, help="seed choosing the --train-subset samples")
    g.add_argument("--crop-scale", type=float, nargs=2, default=(0.9, 1.0), metavar=("MIN", "MAX"),
                   help="RandomResizedCrop area range")
    g.add_argument("--aug-variants", type=int, default=0,
                   help="K augmentation variants cycled over epochs (epoch %% K); 0 = a new one every epoch. "
                        "Set by the cache when --teacher-cache is used")
    g.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    m = p.add_argument_group("model")
    m.add_argument("--arch", choices=["student", "hf-clip"], default="student",
                   help="student = MobileCLIP from the registry (--model); hf-clip = an HF CLIPModel (--hf-config), "
                        "for training a proxy teacher with --no-kd")
    m.add_argument("--model", default="mnv3l-lsra-512", help="student registry config (mobileclip.list_models())")
    m.add_argument("--model-overrides", default=None, help="JSON merged into the student config, "
                                                           "e.g. '{\"text_cfg\": {\"layers\": 4}}'")
    m.add_argument("--image-size", type=int, default=None, help="override the model's input size (student or hf-clip)")
    m.add_argument("--hf-config", default="tiny", help="hf-clip config: tiny | cpu-vit | CLIPConfig JSON file")
    m.add_argument("--init", default=None, help="start from this student checkpoint's weights (fine-tuning)")
    k = p.add_argument_group("distillation")
    k.add_argument("--teacher", default="openai/clip-vit-base-patch32",
                   help="frozen teacher: hub name, save_pretrained dir, or vit-b-32-random")
    k.add_argument("--teacher-cache", default=None, help="precomputed teacher embeddings "
                                                         "(python -m mobileclip.cache_teacher); the teacher is not loaded")
    k.add_argument("--no-kd", action="store_true", help="contrastive loss only (CLIP from scratch, ablation baseline)")
    k.add_argument("--align-steps", type=int, default=-1, help="phase 1 (feature alignment) steps; -1 = 10%% of --steps")
    k.add_argument("--distil-steps", type=int, default=-1, help="phase 2 (distillation) steps; -1 = 30%% of --steps")
    k.add_argument("--fd-loss", choices=["cosine", "mse"], default="cosine", help="feature distillation distance")
    k.add_argument("--temperature", type=float, default=2.0, help="response distillation temperature")
    k.add_argument("--affinity", action="store_true", help="add intra-modal affinity mimicking in phases 2-3")
    k.add_argument("--balancer", choices=["uncertainty", "fixed"], default="uncertainty",
                   help="loss weighting: learned uncertainty weights, or fixed weight 1")
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    o.add_argument("--batch-size", type=int, default=64, help="per-process batch size")
    o.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    o.add_argument("--balancer-lr", type=float, default=1e-2, help="learning rate of the balancer's log-variances")
    o.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (not on norms/biases/scales)")
    o.add_argument("--warmup", type=int, default=-1, help="linear warm-up steps; -1 = 5%% of --steps")
    o.add_argument("--min-lr-ratio", type=float, default=0.01, help="cosine floor as a fraction of --lr")
    o.add_argument("--grad-clip", type=float, default=1.0, help="clip the global grad norm (after AMP unscale); 0 = off")
    o.add_argument("--amp", choices=["auto", "on", "off"], default="auto", help="mixed precision: auto = on with CUDA")
    o.add_argument("--channels-last", choices=["on", "off"], default="on",
                   help="image tower and image batches in channels-last memory layout (faster convolutions on CPU "
                        "and tensor cores; the same model up to rounding)")
    o.add_argument("--max-nonfinite", type=int, default=10, help="abort after this many NaN/inf steps (each is skipped)")
    o.add_argument("--seed", type=int, default=0, help="seed for init, data order and augmentation")
    o.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    o.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads per process (0 = torch's default; 1 is much faster on a busy shared CPU)")
    r = p.add_argument_group("output")
    r.add_argument("--out", default="runs/train", help="output folder: last.pt, log.csv, final checkpoint")
    o.add_argument("--bn-recalibrate", type=int, default=20,
                   help="at the end, re-estimate BatchNorm statistics over N training batches with the final "
                        "weights (precise BN); 0 = off")
    r.add_argument("--save-every", type=int, default=500, help="checkpoint OUT/last.pt every N steps (and at the end)")
    r.add_argument("--log-every", type=int, default=10, help="CSV/tqdm logging interval")
    r.add_argument("--resume", default="auto", help="auto = continue from OUT/last.pt if present; a path; or 'none'")
    r.add_argument("--stop-after", type=int, default=None, help="stop (checkpointed) after this global step, "
                                                               "as if killed; resume later")
    r.add_argument("--tensorboard", action="store_true", help="also log to OUT/tb (needs the tensorboard package)")
    r.add_argument("--zeroshot", default=None, help="class folder to evaluate zero-shot top-1 on at the end")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


# ----------------------------------------------------------------------------------------------- helpers
def _dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


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


def _hf_config_dict(cfg) -> dict:
    return json.loads(cfg.to_json_string())


# -------------------------------------------------------------------------------------------------- train
def train(args, dataset=None) -> dict:
    """Run training as configured by ``args`` (from :func:`parse_args`). ``dataset`` overrides --train-data
    with any map-style dataset whose items are ``(PIL image, token ids)`` or None."""
    check_train_args(args)  # reliability hook: bad numbers/--out refused before any work
    with run_lock(args.out, PROG, enabled=_dist_info()[0] == 0):  # reliability hook: one run per --out
        remove_stale_temps(args.out, ("last.pt", "final.pt"))  # reliability hook: temp files of killed saves
        return _train(args, dataset)


def _train(args, dataset=None) -> dict:
    rank, local_rank, world = _dist_info()
    distributed = world > 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    is_main = rank == 0
    use_amp = device.type == "cuda" and args.amp != "off"
    if args.amp == "on" and device.type != "cuda":
        raise TrainError("--amp on needs a CUDA device (mixed precision is only used on GPUs)")
    kd = not args.no_kd
    out = Path(args.out)
    if args.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    # ---- model
    if args.arch == "hf-clip":
        hf_cfg = hf_clip_config(args.hf_config, args.image_size)
        student = HFClipTrainable(hf_cfg)
    else:
        overrides = json.loads(args.model_overrides) if args.model_overrides else {}
        if args.image_size:
            overrides.setdefault("vision_cfg", {})["image_size"] = args.image_size
        student = create_model(args.model, **overrides)
        if args.init:
            from . import load_checkpoint

            student.load_state_dict(load_checkpoint(args.init).state_dict())
    tok = get_tokenizer()

    # ---- teacher (online or cached)
    teacher, cache, teacher_cfg, teacher_dim = None, None, None, None
    if kd:
        if args.teacher_cache:
            cache = TeacherCache(args.teacher_cache)
            teacher_dim = cache.embed_dim
            if args.aug_variants not in (0, cache.variants):
                raise TrainError(f"--aug-variants {args.aug_variants} != the cache's {cache.variants} variants")
            args.aug_variants = cache.variants
        else:
            teacher = load_teacher(args.teacher, device=device)
            teacher_cfg, teacher_dim = teacher.preprocess_cfg, teacher.embed_dim
    module = KDModule(student, teacher_dim, args.fd_loss, args.temperature, args.balancer, args.affinity).to(device)
    student = module.student
    layout = torch.channels_last if args.channels_last == "on" else torch.contiguous_format
    student.to(memory_format=layout)  # only 4-D (conv) weights change layout

    # ---- data
    scale = tuple(args.crop_scale)
    same_view = teacher_cfg is not None and all(
        teacher_cfg.get(k) == student.preprocess_cfg.get(k) for k in ("image_size", "mean", "std", "interpolation"))
    transform = PairTransform(student.preprocess_cfg, None if (teacher_cfg is None or same_view) else teacher_cfg,
                              train=True, scale=scale)
    base = dataset if dataset is not None else build_dataset(args.train_data, transform, tok, args.templates,
                                                             rank, world, args.seed)
    if dataset is not None and hasattr(base, "transform"):
        base.transform = transform
    streaming = isinstance(base, torch.utils.data.IterableDataset)
    if streaming and (cache is not None or args.train_subset < 1.0):
        raise TrainError("tar shards are streamed: --teacher-cache and --train-subset need a captions CSV or a "
                         "class folder (random access)")
    n_total = 0 if streaming else len(base)
    indices = torch.arange(n_total)
    if args.train_subset < 1.0:
        g = torch.Generator().manual_seed(args.subset_seed)
        indices = torch.randperm(n_total, generator=g)[:max(1, round(args.train_subset * n_total))].sort().values
    if cache is not None:
        cache.check(str(args.train_data), n_total, args.seed, scale, student.preprocess_cfg.get("image_size"))
    view = None if streaming else SeededView(base, args.seed)

    # ---- optimisation
    # fused: one kernel for all parameters (8x faster than the per-tensor loop on CPU, same update rule)
    optimizer = torch.optim.AdamW(_param_groups(module, args.lr, args.balancer_lr, args.weight_decay),
                                  lr=args.lr, betas=(0.9, 0.98), eps=1e-6, fused=device.type in ("cpu", "cuda"))
    warmup = max(1, round(0.05 * args.steps)) if args.warmup < 0 else max(1, args.warmup)
    sched_fn = lr_lambda(warmup, args.steps, args.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [sched_fn] * len(optimizer.param_groups))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    schedule = Schedule(args.steps, kd, args.align_steps, args.distil_steps, args.affinity)

    # ---- resume
    step, epoch, batch_in_epoch, skipped_images, nonfinite = 0, 0, 0, 0, 0
    resume_path = None
    if args.resume not in ("none", "", None):
        resume_path = out / "last.pt" if args.resume == "auto" else Path(args.resume)
        if args.resume != "auto" and not resume_path.is_file():
            raise TrainError(f"--resume {resume_path}: no such checkpoint")
        if not resume_path.is_file():
            resume_path = None
    if resume_path is not None:
        payload = read_resume_payload(resume_path, (student.clip if args.arch == "hf-clip" else student).state_dict(),
                                      module.heads.state_dict() if module.heads is not None else None,
                                      module.balancer.state_dict(), optimizer, HF_TRAIN_FORMAT)  # reliability hook
        ts = payload.get("extra", {}).get("train_state") if payload.get("format") != HF_TRAIN_FORMAT \
            else payload["train_state"]
        if not ts:
            raise TrainError(f"{resume_path} has no train_state to resume from")
        if args.arch == "hf-clip":
            student.clip.load_state_dict(payload["state_dict"])
        else:
            student.load_state_dict(payload["state_dict"])
        if ts.get("heads") is not None:
            module.heads.load_state_dict(ts["heads"])
        module.balancer.load_state_dict(ts["balancer"])
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        if ts.get("scaler"):
            scaler.load_state_dict(ts["scaler"])
        step, epoch, batch_in_epoch = ts["step"], ts["epoch"], ts["batch_in_epoch"]
        skipped_images, nonfinite = ts["skipped_images"], ts["nonfinite_steps"]
        _set_rng_state(ts["rng"][rank] if rank < len(ts["rng"]) else ts["rng"][0])
        if is_main:
            print(f"resumed from {resume_path} at step {step} (phase {schedule.phase_at(step)}, epoch {epoch})",
                  flush=True)

    ddp = module
    if distributed:
        ddp = nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                                  find_unused_parameters=True)

    def train_state():
        rngs = [None] * world
        st = _rng_state()
        if distributed:
            torch.distributed.all_gather_object(rngs, st)
        else:
            rngs = [st]
        return {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "phase": schedule.phase_at(step),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if use_amp else None, "balancer": module.balancer.state_dict(),
                "heads": module.heads.state_dict() if module.heads is not None else None,
                "skipped_images": skipped_images, "nonfinite_steps": nonfinite, "rng": rngs,
                "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}}

    def save(path: Path, final: bool = False, weights_only: bool = False):
        ts = train_state()  # collective in DDP: every rank calls it
        if not is_main:
            return
        if args.arch == "hf-clip":
            atomic_torch_save({"format": HF_TRAIN_FORMAT, "hf_config": _hf_config_dict(student.clip.config),
                                "state_dict": {k: v.detach().cpu() for k, v in student.clip.state_dict().items()},
                                "train_state": ts}, path)
            if final:
                student.clip.save_pretrained(out / "hf")
        else:
            extra = {"kd_heads": module.heads.checkpoint_state() if module.heads is not None else None,
                     "train_state": ts if not weights_only else {"step": ts["step"], "args": ts["args"]},
                     "teacher": (teacher.label if teacher is not None else
                                                    cache.meta.get("teacher") if cache is not None else None),
                     "kd": kd}
            save_checkpoint(student, path, extra=extra)

    # ---- logging
    log_path = out / "log.csv"
    columns = ["step", "epoch", "phase", "lr", "total", "grad_norm", "step_time_s", "skipped_images",
               "nonfinite_steps"] + ALL_TERMS + [f"w_{t}" for t in ALL_TERMS]
    tb = None
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        if step == 0 or not log_path.is_file():
            with open(log_path, "w", newline="") as f:
                csv.writer(f).writerow(columns)
        else:  # resumed: drop rows logged after the checkpoint
            with open(log_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
            with open(log_path, "w", newline="") as f:
                w = csv.DictWriter(f, columns)
                w.writeheader()
                w.writerows(rows)
        if args.tensorboard:
            tb = SummaryWriter(str(out / "tb"))
        print(f"training {getattr(student, 'config', {}).get('name', args.arch)} on {device} "
              f"({world} process{'es' if world > 1 else ''}), {'streamed tar shards' if streaming else f'{len(indices)} samples'}, {args.steps} steps, "
              f"phases {schedule.phases}, {'teacher cache ' + str(args.teacher_cache) if cache else 'teacher ' + (teacher.label if teacher else '-')}",
              flush=True)

    tqdm_bar = None
    if is_main and not args.quiet:
        from tqdm import tqdm

        tqdm_bar = tqdm(total=args.steps, initial=step, desc="train", dynamic_ncols=True)

    phase_stats: dict[str, dict[str, list[float]]] = {}
    step_times: list[float] = []
    stop_at = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    module.train()
    if teacher is not None:
        teacher.eval()

    def synced(iterator):
        """Stop every rank together when any rank's stream runs out (shards split unevenly)."""
        for item in iterator:
            if distributed:
                more = torch.tensor([1.0])
                torch.distributed.all_reduce(more, op=torch.distributed.ReduceOp.MIN)
                if more.item() == 0:
                    return
            yield item
        if distributed:
            torch.distributed.all_reduce(torch.tensor([0.0]), op=torch.distributed.ReduceOp.MIN)

    while step < stop_at:
        variant = epoch % args.aug_variants if args.aug_variants else epoch
        if streaming:  # shard order and augmentation seeded per epoch; resume replays the stream to its position
            base.set_epoch(epoch)
            torch.manual_seed(item_seed(args.seed, variant, rank))
            loader = synced(iter(torch.utils.data.DataLoader(base, batch_size=args.batch_size, drop_last=True,
                                                             num_workers=args.workers, collate_fn=collate_train)))
            for _ in range(batch_in_epoch):
                next(loader, None)
        else:
            view.variant = variant
            batches = epoch_batches(len(indices), args.batch_size, args.seed, epoch, rank, world)
            batches = [[int(indices[j]) for j in b] for b in batches]
            loader = torch.utils.data.DataLoader(view, batch_sampler=batches[batch_in_epoch:],
                                                 num_workers=args.workers, collate_fn=collate_train)
        epoch_batches_seen, epoch_first_step = 0, step
        for batch, dropped in loader:
            epoch_batches_seen += 1
            t0 = time.perf_counter()
            skipped_images += dropped
            has_data = torch.tensor([0.0 if batch is None else 1.0])
            if distributed:
                torch.distributed.all_reduce(has_data, op=torch.distributed.ReduceOp.MIN)
            batch_in_epoch += 1
            if has_data.item() == 0:
                continue
            images, ids, idx = batch
            ids = trim_padding(ids).to(device)
            if isinstance(images, (list, tuple)):
                s_images, t_images = images[0].to(device), images[1].to(device)
            else:
                s_images = t_images = images.to(device)
            s_images = s_images.contiguous(memory_format=layout)
            phase = schedule.phase_at(step)
            active = schedule.terms(phase)
            t_out = None
            if kd and active != ["contrastive"]:
                if cache is not None:
                    t_out = cache.lookup(variant, idx, device)
                else:
                    with torch.no_grad(), torch.autocast(device.type, enabled=use_amp):
                        t_out = teacher(t_images, ids)
                    t_out = {k: t_out[k].float() for k in ("image_embeds", "text_embeds", "logit_scale")}
            with torch.autocast(device.type, enabled=use_amp):
                total, terms, _ = ddp(s_images, ids, active, t_out)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            grad_norm = torch.nn.utils.clip_grad_norm_(params, args.grad_clip if args.grad_clip > 0 else float("inf"))
            finite = torch.tensor([float(torch.isfinite(total).item() and torch.isfinite(grad_norm).item())])
            if distributed:
                torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
            if finite.item() == 0:
                nonfinite += 1
                optimizer.zero_grad(set_to_none=True)
                if use_amp:
                    scaler.update()
                if is_main:
                    print(f"step {step}: non-finite loss/gradient, step skipped ({nonfinite}/{args.max_nonfinite})",
                          file=sys.stderr, flush=True)
                if nonfinite >= args.max_nonfinite:
                    raise TrainError(f"{nonfinite} non-finite steps (limit --max-nonfinite {args.max_nonfinite}); "
                                     f"lower --lr or check the data")
                continue
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            with torch.no_grad():
                student.logit_scale.clamp_(0, math.log(100))
            step += 1
            step_times.append(time.perf_counter() - t0)

            vals = {k: float(v.detach()) for k, v in terms.items()}
            st = phase_stats.setdefault(phase, {})
            for k, v in vals.items():
                st.setdefault(k, []).append(v)
            if is_main and (step % args.log_every == 0 or step == stop_at or schedule.phase_at(step) != phase):
                weights = module.balancer.weights()
                row = {"step": step, "epoch": epoch, "phase": phase, "lr": f"{scheduler.get_last_lr()[0]:.6g}",
                       "total": f"{float(total.detach()):.6g}", "grad_norm": f"{float(grad_norm):.6g}",
                       "step_time_s": f"{step_times[-1]:.4f}", "skipped_images": skipped_images,
                       "nonfinite_steps": nonfinite}
                row.update({k: f"{vals[k]:.6g}" for k in vals})
                row.update({f"w_{k}": f"{weights[k]:.6g}" for k in vals})
                with open(log_path, "a", newline="") as f:
                    csv.DictWriter(f, columns).writerow(row)
                if tb is not None:
                    for k, v in vals.items():
                        tb.add_scalar(f"loss/{k}", v, step)
                        tb.add_scalar(f"weight/{k}", weights[k], step)
                    tb.add_scalar("lr", scheduler.get_last_lr()[0], step)
            if tqdm_bar is not None:
                tqdm_bar.update(1)
                tqdm_bar.set_postfix({"phase": phase, "loss": f"{float(total.detach()):.3f}",
                                      **{k: f"{v:.3f}" for k, v in list(vals.items())[:3]}})
            if is_main and schedule.phase_at(step) != phase:
                _print_phase(phase, schedule, st, module.balancer.weights())
            if step % args.save_every == 0 and step < stop_at:
                save(out / "last.pt")
            if step >= stop_at:
                break
        else:
            if streaming and epoch_batches_seen == 0 and batch_in_epoch == 0:
                raise TrainError(f"{args.train_data}: the shards hold fewer than one batch of readable samples")
            if step == epoch_first_step and epoch_batches_seen and batch_in_epoch == epoch_batches_seen:  # hook
                raise TrainError(f"{args.train_data}: a whole epoch gave no training step (no batch of "
                                 f"--batch-size {args.batch_size} held 2 readable images)")
            epoch += 1
            batch_in_epoch = 0
    if tqdm_bar is not None:
        tqdm_bar.close()
    final = step >= args.steps
    if final and args.bn_recalibrate > 0:
        def student_images():
            if streaming:
                torch.manual_seed(item_seed(args.seed, 0, rank))
                it = torch.utils.data.DataLoader(base, batch_size=args.batch_size, collate_fn=collate_train)
            else:
                view.variant = 0
                b = epoch_batches(len(indices), args.batch_size, args.seed, 0, rank, world)
                it = torch.utils.data.DataLoader(view, batch_sampler=[[int(indices[j]) for j in x] for x in b],
                                                 collate_fn=collate_train, num_workers=args.workers)
            for batch, _ in it:
                if batch is not None:
                    yield batch[0][0] if isinstance(batch[0], (list, tuple)) else batch[0]

        n_bn = recalibrate_bn(student, student_images(), args.bn_recalibrate, device, distributed)
        if is_main and n_bn:
            print(f"BatchNorm statistics re-estimated over {n_bn} training batches (precise BN)", flush=True)
    if final and is_main and phase_stats:
        last_phase = schedule.phase_at(step - 1)
        _print_phase(last_phase, schedule, phase_stats.get(last_phase, {}), module.balancer.weights())
    save(out / "last.pt", final=final)
    if final and args.arch != "hf-clip":
        save(out / "final.pt", weights_only=True)
    if distributed:
        torch.distributed.barrier()
    if tb is not None:
        tb.close()
    mean_step = float(np.mean(step_times[min(2, len(step_times) - 1):])) if step_times else float("nan")
    summary = {"step": step, "finished": final, "skipped_images": skipped_images, "nonfinite_steps": nonfinite,
               "mean_step_time_s": mean_step, "out": str(out), "balancer_weights": module.balancer.weights(),
               "phases": schedule.phases}
    if is_main:
        if hasattr(base, "skipped"):
            from .data import skip_report

            print(f"unreadable images: {skip_report(base)}", flush=True)
        n_skipped = base.skipped if hasattr(base, "skipped") else skipped_images  # hook: same count as above
        print(f"done: step {step}/{args.steps}, skipped {n_skipped} unreadable image(s), "
              f"{nonfinite} non-finite step(s), mean step {mean_step * 1e3:.1f} ms; checkpoint {out / 'last.pt'}"
              + (f", teacher dir {out / 'hf'}" if final and args.arch == "hf-clip" else ""), flush=True)
        if final and args.zeroshot:
            summary["zeroshot"] = _zeroshot(args, out)
    summary["module"] = module
    return summary


def _print_phase(phase, schedule, stats, weights):
    a, b = schedule.bounds()[phase]
    parts = []
    for k, v in stats.items():
        n = max(1, len(v) // 10)
        parts.append(f"{k} {np.mean(v[:n]):.4f}->{np.mean(v[-n:]):.4f} (w {weights[k]:.3g})")
    print(f"phase {phase} [steps {a}-{b}]: " + ", ".join(parts), flush=True)


def _zeroshot(args, out: Path) -> dict:
    from .eval import load_encoder, zero_shot

    enc = load_encoder(str(out / "hf") if args.arch == "hf-clip" else str(out / "final.pt"))
    res = zero_shot(enc, args.zeroshot, templates=args.templates)
    print(f"zero-shot top-1 on {args.zeroshot}: {100 * res['top1']:.2f}% (n={res['n']})", flush=True)
    return {k: res[k] for k in ("top1", "top5", "n")}


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.train"):
        try:
            train(args)
        finally:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
