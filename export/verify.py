"""Verification: the exported file's embeddings of the shared images and captions against PyTorch fp32."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mobileclip.finite import check_finite

from .backends import Backend, Lowered
from .calibration import EvalData
from .errors import VerificationError


@dataclass
class Thresholds:
    fp32_cosine: float = 0.9999
    fp16_cosine: float = 0.999  # unquantised exports that store fp16 weights (Core ML fp16-compute)
    int8_cosine: float = 0.99
    int8_agreement: float = 0.98


def verify(backend: Backend, path: Path, tower: str, quantization: str, module: nn.Module, lowered: Lowered,
           reference: dict, data: EvalData, thresholds: Thresholds, recipe: enum.Enum | None = None) -> dict:
    """Embed the shared images/captions with the exported file; compare with PyTorch fp32."""
    from tqdm import tqdm

    fn, method = backend.embedder(path, tower, module, lowered)
    if tower == "image":
        inputs = list(data.images)
        ref = reference["images"]
    else:
        ids = torch.cat([data.caption_ids, data.prompt_ids]).to(torch.int32)
        inputs = list(ids)
        ref = torch.cat([reference["captions"], reference["prompts"]])
    outs = []
    for x in tqdm(inputs, desc=f"  verify {backend.name}/{tower}/{quantization}", leave=False, unit="input"):
        outs.append(torch.as_tensor(np.asarray(fn(x.unsqueeze(0))), dtype=torch.float32).reshape(1, -1))
    got = check_finite(torch.cat(outs), f"{backend.name} {tower} tower ({quantization}) output")
    if got.shape != ref.shape:
        raise VerificationError(f"{backend.name} {tower} tower: output shape {tuple(got.shape)} != {tuple(ref.shape)}")
    cos = F.cosine_similarity(got, ref, dim=-1)
    ref_pred = (reference["images"] @ reference["prompts"].T).argmax(-1)
    if tower == "image":
        pred = (got @ reference["prompts"].T).argmax(-1)
    else:
        pred = (reference["images"] @ got[len(data.caption_ids):].T).argmax(-1)
    agreement = (pred == ref_pred).float().mean().item()
    finite = bool(torch.isfinite(got).all())
    precision = backend.precision(recipe, quantization)
    if precision in ("fp32", "fp16"):
        limit = thresholds.fp32_cosine if precision == "fp32" else thresholds.fp16_cosine
        passed = finite and cos.min().item() >= limit
        rule = f"cosine_min >= {limit} ({precision})"
    else:
        passed = finite and cos.min().item() >= thresholds.int8_cosine and agreement >= thresholds.int8_agreement
        rule = f"cosine_min >= {thresholds.int8_cosine} and zero_shot_agreement >= {thresholds.int8_agreement}"
    return {"method": method, "n_inputs": len(inputs), "cosine_min": round(cos.min().item(), 6),
            "cosine_mean": round(cos.mean().item(), 6), "max_abs_err": float(f"{(got - ref).abs().max().item():.3g}"),
            "zero_shot_agreement": round(agreement, 4), "zero_shot_n": len(data.labels),
            "zero_shot_classes": len(data.classnames), "threshold": rule, "passed": bool(passed)}


def reference_embeddings(model, data: EvalData) -> dict:
    with torch.no_grad():
        return {"images": model.encode_image(data.images), "captions": model.encode_text(data.caption_ids),
                "prompts": model.encode_text(data.prompt_ids)}



def verification_table(entries: list[dict], tablefmt: str = "github") -> str:
    from tabulate import tabulate

    rows = []
    for e in entries:
        v = e.get("verification", {})
        rows.append([e["backend"], e["tower"], e["quantization"], e["recipe"], f"{e['size_bytes'] / 2**20:.2f}",
                     f"{v.get('cosine_min', float('nan')):.6f}", f"{v.get('cosine_mean', float('nan')):.6f}",
                     f"{v.get('max_abs_err', float('nan')):.2e}", f"{v.get('zero_shot_agreement', float('nan')):.1%}",
                     "yes" if v.get("passed") else "NO", v.get("method", "")])
    return tabulate(rows, headers=["backend", "tower", "quant", "recipe", "MiB", "cos min", "cos mean", "max abs err",
                                   "zero-shot agree", "pass", "verified by"], tablefmt=tablefmt,
                    disable_numparse=True)
