"""Verification: the exported file's embeddings of the shared images and captions against PyTorch fp32."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mobileclip.utils.finite import check_finite

from .backends import Backend, Lowered
from .calibration import EvalData
from .errors import VerificationError
from .fidelity import zero_shot_fidelity
from .retrieval import top_k_overlap


@dataclass
class Thresholds:
    fp32_cosine: float = 0.9999
    fp16_cosine: float = 0.999  # unquantised exports that store fp16 weights (Core ML fp16-compute)
    int8_cosine: float = 0.99
    int8_agreement: float = 0.98  # zero-shot top-1 agreement on the decisive inputs (export/fidelity.py)
    noise_sigmas: float = 3.0  # an input is decisive when its fp32 top-1/top-2 margin exceeds this many sigmas
    int8_top10_overlap: float = 0.9  # text -> image top-10 kept, on the decisive fp32 members (export/retrieval.py)


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
    ref_logits = reference["images"] @ reference["prompts"].T
    got_logits = got @ reference["prompts"].T if tower == "image" else \
        reference["images"] @ got[len(data.caption_ids):].T
    finite = bool(torch.isfinite(got).all())
    fidelity = zero_shot_fidelity(ref_logits.numpy(), got_logits.numpy(), k=thresholds.noise_sigmas) if finite \
        else None
    retrieval = _retrieval(tower, got, reference, len(data.caption_ids), thresholds) if finite else None
    precision = backend.precision(recipe, quantization)
    passed, rule = _gate(precision, finite, cos.min().item(), fidelity, thresholds)
    passed, rule = _retrieval_gate(precision, passed, rule, retrieval, thresholds)
    decisive = fidelity.as_dict() if fidelity else None
    return {"method": method, "n_inputs": len(inputs), "cosine_min": round(cos.min().item(), 6),
            "cosine_mean": round(cos.mean().item(), 6), "max_abs_err": float(f"{(got - ref).abs().max().item():.3g}"),
            "zero_shot_agreement": round(fidelity.raw_agreement, 4) if fidelity else 0.0,
            "zero_shot_n": len(data.labels), "zero_shot_classes": len(data.classnames),
            **({"zero_shot_fidelity": _rounded(decisive)} if decisive else {}),
            **({"retrieval_top10": _rounded(retrieval)} if retrieval else {}),
            "threshold": rule, "passed": bool(passed)}


def _gate(precision: str, finite: bool, cos_min: float, fidelity, thresholds: Thresholds) -> tuple[bool, str]:
    """``(passed, rule in words)``: fp32/fp16 exports on cosine; int8 on cosine and the zero-shot agreement of
    the inputs whose fp32 decision is clearer than the measured int8 logit noise (raw agreement is reported,
    not gated: it counts near-ties decided by rounding noise)."""
    if precision in ("fp32", "fp16"):
        limit = thresholds.fp32_cosine if precision == "fp32" else thresholds.fp16_cosine
        return finite and cos_min >= limit, f"cosine_min >= {limit} ({precision})"
    rule = (f"cosine_min >= {thresholds.int8_cosine} and zero-shot agreement >= {thresholds.int8_agreement} on "
            f"inputs whose fp32 top-1/top-2 margin exceeds {thresholds.noise_sigmas:g} sigma of the int8 logit noise")
    passed = finite and cos_min >= thresholds.int8_cosine
    if fidelity is None:
        return False, rule
    if fidelity.decisive_agreement is None:  # no decisive input: agreement cannot be measured, cosine decides
        return passed, rule + " (no decisive input: agreement not measurable, cosine alone gates)"
    return passed and fidelity.decisive_agreement >= thresholds.int8_agreement, rule


def _retrieval(tower: str, got: torch.Tensor, reference: dict, n_captions: int, thresholds: Thresholds) -> dict | None:
    """Text -> image top-10 of every caption and prompt over the verification images: the export's ranking
    (its image embeddings, or its text embeddings) against PyTorch fp32's."""
    texts = torch.cat([reference["captions"], reference["prompts"]])
    ref = texts @ reference["images"].T
    new = texts @ got.T if tower == "image" else got @ reference["images"].T
    return top_k_overlap(ref.numpy(), new.numpy(), k=10, sigmas=thresholds.noise_sigmas)


def _retrieval_gate(precision: str, passed: bool, rule: str, retrieval: dict | None, thresholds: Thresholds):
    """int8 also keeps the decisive fp32 text -> image top-10 members (>= ``int8_top10_overlap``)."""
    if precision in ("fp32", "fp16") or retrieval is None:
        return passed, rule
    rule += f"; text->image top-10 kept >= {thresholds.int8_top10_overlap} on decisive fp32 members"
    if retrieval["decisive_overlap"] is None:
        return passed, rule + " (none decisive: not measurable)"
    return passed and retrieval["decisive_overlap"] >= thresholds.int8_top10_overlap, rule


def _rounded(d: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


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
                     f"{v.get('max_abs_err', float('nan')):.2e}", _decisive_cell(v.get("zero_shot_fidelity")),
                     _overlap_cell(v.get("retrieval_top10")),
                     f"{v.get('zero_shot_agreement', float('nan')):.1%}", "yes" if v.get("passed") else "NO",
                     v.get("method", "")])
    return tabulate(rows, headers=["backend", "tower", "quant", "recipe", "MiB", "cos min", "cos mean", "max abs err",
                                   "zero-shot agree (decisive)", "top-10 kept (decisive / raw)", "raw agree", "pass",
                                   "verified by"],
                    tablefmt=tablefmt, disable_numparse=True)


def _decisive_cell(f: dict | None) -> str:
    """Agreement on the decisive inputs with their count (``98.0% of 50/56``), or why there is none."""
    if not f:
        return "—"
    if f.get("decisive_agreement") is None:
        return f"n/a (0 of {f['n']} decisive)" if not f.get("n_decisive") else f"n/a ({f['n_decisive']}/{f['n']})"
    return f"{f['decisive_agreement']:.1%} of {f['n_decisive']}/{f['n']}"


def _overlap_cell(r: dict | None) -> str:
    """``100.0% / 97.5%``: decisive fp32 top-10 members kept, and the raw mean overlap; or why there is none."""
    if not r:
        return "—"
    decisive = "n/a" if r.get("decisive_overlap") is None else f"{r['decisive_overlap']:.1%}"
    return f"{decisive} / {r['overlap_mean']:.1%}"
