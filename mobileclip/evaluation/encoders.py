"""One encoder protocol for everything that embeds images and texts, and one loader for all of them.

The student (:class:`~mobileclip.models.model.MobileCLIP`), the CLIP teacher (:class:`~mobileclip.models.teacher.Teacher`) and
exported models (``export.runtime.ExportedEncoder``) all satisfy :class:`Encoder`; evaluation and benchmarks
take encoders. :func:`load_encoder` turns a spec into one:

* a ``.pt`` file (or any existing file) -> the student checkpoint;
* a student registry name (``mnv3l-lsra-512``) -> that student, freshly initialised (labelled so);
* an export folder (``manifest.json``) -> an error naming its loader, ``export.runtime.load_exported``;
* anything else -> a teacher: a ``save_pretrained`` folder, a hub name, or ``vit-b-32-random``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..utils.errors import CheckpointError, MobileClipError
from ..utils.finite import check_finite

__all__ = ["Encoder", "encoder_context_length", "encoder_device", "encoder_label", "kd_heads_from_checkpoint",
           "load_encoder", "prepare_inputs"]


@runtime_checkable
class Encoder(Protocol):
    """L2-normalised embeddings of images and token ids, with what a caller needs to feed it."""

    preprocess_cfg: dict  # image_size, resize_mode, interpolation, mean, std (``mobileclip.image_transform``)

    @property
    def context_length(self) -> int: ...  # token ids per caption

    @property
    def label(self) -> str: ...  # how tables name it

    def encode_image(self, images: torch.Tensor) -> torch.Tensor: ...  # (N, 3, S, S) -> (N, D)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor: ...  # (N, L) -> (N, D)


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", ".\\")) or os.path.splitdrive(spec)[0] != ""


def _untrained_student(name: str, device) -> nn.Module:
    from ..models.factory import create_model

    with torch.random.fork_rng(devices=[]):  # the same init every time; the caller's RNG untouched
        torch.manual_seed(0)
        model = create_model(name)
    model.label, model.trained = f"{name} (untrained init)", False
    return model.to(device).eval()


KINDS = ("student", "teacher", "exported")


def _kind_of(spec: str, path: Path) -> str:
    from ..models.factory import list_models

    if path.is_file() or path.suffix == ".pt" or spec in list_models():
        return "student"
    return "exported" if (path / "manifest.json").is_file() else "teacher"


def load_encoder(spec, device="cpu", return_payload: bool = False, kind: str | None = None):
    """The :class:`Encoder` named by ``spec`` (see the module docstring). ``return_payload=True`` also returns
    the checkpoint payload (``None`` for anything but a student checkpoint). ``kind`` (student, teacher)
    refuses any other kind with a clear error. An export folder is an error that names its loader,
    ``export.runtime.load_exported`` (the library does not import the exporters)."""
    from ..models.factory import list_models
    from ..models.checkpoint import load_checkpoint
    from ..models.teacher import load_teacher

    spec = str(spec)
    path = Path(spec).expanduser()
    if _looks_like_path(spec) and not path.exists():
        raise MobileClipError(f"model not found: {spec} (no such checkpoint file, export or teacher folder)")
    found = _kind_of(spec, path)
    if kind is not None and found != kind:
        hint = {"student": f"a registry config ({', '.join(list_models())}) or a checkpoint file"}.get(kind, kind)
        raise MobileClipError(f"{spec!r} is not a {kind}: expected {hint}")
    payload = None
    if found == "student" and spec in list_models() and not path.is_file():
        model = _untrained_student(spec, device)
    elif found == "student":
        model, payload = load_checkpoint(path, return_payload=True)
        model.label, model.trained = f"{model.config.get('name', 'student')} ({path.name})", True
        check_finite(model, f"checkpoint {path}")  # NaN weights are an error, not a score
        model.to(device).eval()
    elif found == "exported":
        raise MobileClipError(f"{spec} is an export folder: load it with export.runtime.load_exported({spec!r}, "
                              "backend, quantization)")
    else:
        model = load_teacher(spec, device=device)
    return (model, payload) if return_payload else model


def encoder_label(encoder) -> str:
    label = getattr(encoder, "label", None)
    if label:
        return str(label)
    config = getattr(encoder, "config", None)
    return str(config.get("name", type(encoder).__name__)) if isinstance(config, dict) else type(encoder).__name__


def encoder_context_length(encoder) -> int:
    return int(getattr(encoder, "context_length", 77))


def encoder_device(encoder) -> torch.device:
    try:
        return next(encoder.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def prepare_inputs(encoder):
    """``(image transform, tokenizer, device)`` that feed ``encoder`` (put in eval mode when it has one)."""
    if hasattr(encoder, "eval"):
        encoder.eval()
    from ..models.tokenizer import get_tokenizer
    from ..models.transform import image_transform

    return (image_transform(encoder.preprocess_cfg), get_tokenizer(encoder_context_length(encoder)),
            encoder_device(encoder))


def kd_heads_from_checkpoint(payload) -> dict[str, nn.Linear] | None:
    """Rebuild the KD projection heads (``extra["kd_heads"] = {"image": {"weight": W}, "text": ...}``, each
    ``nn.Linear(student_dim, teacher_dim, bias=False)``) from a checkpoint payload or path; ``None`` if absent."""
    from ..models.checkpoint import read_checkpoint

    if isinstance(payload, (str, os.PathLike)):
        payload = read_checkpoint(payload)
    heads = ((payload or {}).get("extra") or {}).get("kd_heads")
    if not heads:
        return None
    out = {}
    for tower, head in heads.items():
        weight = head.get("weight") if isinstance(head, dict) else head
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            raise CheckpointError(f"kd_heads[{tower!r}] must hold a 2-D 'weight' tensor (teacher_dim, student_dim)")
        lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(weight.float())
        out[tower] = lin.eval().requires_grad_(False)
    return out
