"""Checkpoints that carry their own config (nanoGPT style): one file rebuilds the model.

Contents: ``format`` (a magic string), ``format_version``, ``model_config`` (the full resolved
config incl. its registry name), ``tokenizer`` and ``preprocess`` settings, ``state_dict``, and an
optional ``extra`` dict (training state, metrics, ...). Written atomically: temp file + rename.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..utils.errors import CheckpointError
from .factory import create_model_from_config
from ..utils.fileio import atomic_torch_save
from .model import MobileCLIP

FORMAT = "mobileclip-kd"
FORMAT_VERSION = 1


def save_checkpoint(model: MobileCLIP, path: str | os.PathLike, extra: dict | None = None,
                    tokenizer_settings: dict | None = None) -> Path:
    from .tokenizer import get_tokenizer

    path = Path(path)
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise CheckpointError("model has no .config; build it with create_model() or load_checkpoint()")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": cfg,
        "tokenizer": tokenizer_settings or get_tokenizer(cfg["text_cfg"]["context_length"]).settings(),
        "preprocess": dict(model.preprocess_cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    return atomic_torch_save(payload, path)


def describe_load_error(e: Exception) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed, in a few words. torch's own text for the weights-only
    unpickler advises loading with ``weights_only=False``, which would run code from the file: never repeated."""
    text = str(e).strip()
    if "Weights only load failed" in text:
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines() if \
            "WeightsUnpickler error:" in text else []
        detail = next((line.strip() for line in detail if line.strip()), "")
        if "GLOBAL" in detail or "global" in detail:
            return f"it holds Python objects, not only tensors: {detail[:120]}; such files are never loaded"
        return f"not a PyTorch checkpoint, or damaged: {detail[:120] or 'unpickling failed'}"
    return f"{type(e).__name__}: {text.splitlines()[0][:200] if text else 'corrupt'}"


def load_payload(path: Path, what: str = "checkpoint"):
    """``torch.load(path, weights_only=True)`` on CPU; a missing or unreadable file is one CheckpointError line."""
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({describe_load_error(e)})") from None


def check_format_version(payload: dict, where: str) -> None:
    """One line when ``payload``'s ``format_version`` is not a number or is newer than this version reads (a
    checkpoint without one predates the field and is read)."""
    version = payload.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{where}: format_version is a {type(version).__name__}, not a number (damaged checkpoint)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{where} has format version {version}, this mobileclip-kd reads up to {FORMAT_VERSION}; "
                              f"upgrade mobileclip-kd")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate the raw payload (no model built)."""
    path = Path(path)
    payload = load_payload(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint (foreign file: no '{FORMAT}' format tag)")
    check_format_version(payload, str(path))
    for key, kind in (("model_config", dict), ("state_dict", dict), ("extra", (dict, type(None)))):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path}: '{key}' is missing or not a {getattr(kind, '__name__', 'dict')} "
                                  f"(damaged checkpoint)")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["state_dict"].items()):
        raise CheckpointError(f"{path}: 'state_dict' holds entries that are not named tensors (damaged checkpoint)")
    return payload


def load_checkpoint(path: str | os.PathLike, return_payload: bool = False):
    """Rebuild the student from the file alone. ``return_payload=True`` also returns the raw dict."""
    payload = read_checkpoint(path)
    cfg = payload["model_config"]
    try:
        model = create_model_from_config(cfg)
        model.load_state_dict(payload["state_dict"])
    except Exception as e:  # a damaged or foreign config can fail anywhere in the model's constructor
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: weights do not match config {cfg.get('name')!r} ({msg})") from None
    model.config = cfg
    model.eval()
    return (model, payload) if return_payload else model
