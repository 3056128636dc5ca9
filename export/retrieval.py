"""Retrieval fidelity of a quantised export: does text -> image search return the same top-k as fp32?

``scores`` are (queries x gallery) similarities, fp32 and quantised. Two statistics:

* ``overlap_mean`` (raw): the mean over queries of |top-k(fp32) ∩ top-k(quantised)| / k -- what a user of the
  search sees change; reported everywhere, gated in ``benchmarks.quantization`` over a large gallery;
* ``decisive_overlap``: the same counted only on the fp32 top-k members that were clearly in (score above the
  (k+1)-th by more than ``sigmas * noise * sqrt(2)``, ``noise`` the robust standard deviation of the row-centred
  score error, as in :mod:`export.fidelity`). The export gate uses it: on a small verification gallery of an
  untrained student many members sit within rounding noise of the k-th place, and whether they stay is luck.
  ``None`` when no member is decisive (the data cannot measure it).
"""
from __future__ import annotations

import numpy as np


def top_k_overlap(ref_scores, got_scores, k: int = 10, sigmas: float = 3.0) -> dict | None:
    """Overlap statistics of the top-``k`` of each query (row); ``None`` when the gallery has <= ``k`` items."""
    ref, got = np.asarray(ref_scores, dtype=np.float64), np.asarray(got_scores, dtype=np.float64)
    if ref.ndim != 2 or ref.shape != got.shape:
        raise ValueError(f"scores must be two equal (queries, gallery) arrays, got {ref.shape} and {got.shape}")
    n, gallery = ref.shape
    if n == 0 or gallery <= k:
        return None
    ref_top = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    got_top = np.argsort(-got, axis=1, kind="stable")[:, :k]
    kept = np.zeros_like(ref_top, dtype=bool)
    for i in range(n):
        kept[i] = np.isin(ref_top[i], got_top[i])
    overlap = kept.mean(axis=1)
    delta = got - ref
    centred = delta - delta.mean(axis=1, keepdims=True)
    noise = float(1.4826 * np.median(np.abs(centred - np.median(centred))))
    boundary = np.sort(ref, axis=1)[:, -(k + 1)]  # the (k+1)-th best score of each query
    member_scores = np.take_along_axis(ref, ref_top, axis=1)
    decisive = member_scores - boundary[:, None] > sigmas * noise * np.sqrt(2.0)
    n_decisive = int(decisive.sum())
    return {"k": k, "n_queries": n, "gallery": gallery, "overlap_mean": float(overlap.mean()),
            "overlap_min": float(overlap.min()), "noise": noise, "n_decisive": n_decisive,
            "decisive_overlap": float(kept[decisive].mean()) if n_decisive else None}
