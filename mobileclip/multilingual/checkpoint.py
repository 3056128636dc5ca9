"""Text-only student checkpoints: a Lite Transformer text tower living in a teacher's embedding space.

Contents: ``format`` (``mobileclip-kd-text``), ``format_version``, ``model_config`` (the full registry config
the tower was built from, ``embed_dim`` = the teacher's), ``tokenizer`` settings (CLIP BPE), ``text_state_dict``,
``logit_scale``, ``teacher`` (kind, source, embed_dim, label, ``fingerprint`` of its space), ``languages``
(source language first) and ``extra`` (training metrics). Written atomically.
"""
from __future__ import annotations

import os
from pathlib import Path


from ..models.checkpoint import load_payload
from ..utils.errors import CheckpointError
from ..utils.fileio import atomic_torch_save
from ..models.lite_transformer import LiteTransformerText

FORMAT = "mobileclip-kd-text"
FORMAT_VERSION = 1


def build_text_tower(model_config: dict) -> LiteTransformerText:
    return LiteTransformerText(model_config["embed_dim"], **model_config["text_cfg"])


def save_text_checkpoint(path, text: LiteTransformerText, model_config: dict, logit_scale: float,
                         teacher: dict, languages: list[str], extra: dict | None = None) -> Path:
    from ..models.tokenizer import get_tokenizer

    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": model_config,
               "tokenizer": get_tokenizer(model_config["text_cfg"]["context_length"]).settings(),
               "text_state_dict": {k: v.detach().cpu() for k, v in text.state_dict().items()},
               "logit_scale": float(logit_scale), "teacher": dict(teacher), "languages": list(languages),
               "extra": extra or {}}
    return atomic_torch_save(payload, path)


def read_text_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    payload = load_payload(path, "text checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a text-only {FORMAT} checkpoint (made by mobileclip.train_text)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {payload['format_version']}; upgrade mobileclip-kd")
    return payload


def load_text_checkpoint(path) -> tuple[LiteTransformerText, dict]:
    """-> (text tower in eval mode, payload)."""
    payload = read_text_checkpoint(path)
    try:
        text = build_text_tower(payload["model_config"])
        text.load_state_dict(payload["text_state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: weights do not match the recorded config ({str(e).splitlines()[0]})") from None
    return text.eval(), payload
