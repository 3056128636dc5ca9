"""Zero-shot fidelity of a quantised export that measures the file, not the luck of near ties.

Raw top-1 agreement between the fp32 model and its int8 export counts every changed prediction as a
failure. On a small verification set, many images have two classes within a hair of each other
(out-of-domain photos, untrained or lightly trained students); the int8 rounding noise then decides their
top-1 by chance, and a file whose embeddings are 0.9997 cosine-close to fp32 "fails" at 94 % agreement.

:func:`zero_shot_fidelity` measures that noise and counts a flip only where the fp32 decision was clear:

1. ``delta = quantised_logits - fp32_logits``, centred per row (a shift shared by all classes of one input
   changes no ranking); ``noise`` is its robust standard deviation over every entry (1.4826 x the median
   absolute deviation: equal to the standard deviation for Gaussian rounding noise, but not inflated by the
   few large errors of a real defect, which would otherwise raise the bar and hide themselves).
2. A swap of classes ``a`` and ``b`` moves their margin by ``delta_a - delta_b``, whose standard deviation
   is ``noise * sqrt(2)`` for independent errors. An input is *decisive* when its fp32 top-1/top-2 margin
   exceeds ``k * noise * sqrt(2)`` (``k = 3`` by default: a three-sigma move).
3. ``decisive_agreement``: the fraction of decisive inputs whose top-1 is unchanged -- the gated statistic.
   ``raw_agreement`` (all inputs) is reported beside it, with the counts.

``decisive_agreement`` is ``None`` when fewer than ``min_decisive`` inputs are decisive: the verification
data cannot measure agreement then, and the caller must say so instead of passing or failing on it.
Logits may be cosine similarities or scaled by a logit scale (the statistic is scale-invariant).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Fidelity:
    n: int  # inputs
    raw_agreement: float  # top-1 unchanged, all inputs
    noise: float  # robust std of the row-centred logit error (quantised - fp32)
    margin_threshold: float  # fp32 top-1/top-2 margin above which an input is decisive
    n_decisive: int
    decisive_flips: int
    decisive_agreement: float | None  # None: fewer than min_decisive decisive inputs

    def as_dict(self) -> dict:
        return asdict(self)


def zero_shot_fidelity(fp32_logits, quantised_logits, k: float = 3.0, min_decisive: int = 1) -> Fidelity:
    """Compare zero-shot logits (inputs x classes) of the fp32 model and its quantised export."""
    ref, got = np.asarray(fp32_logits, dtype=np.float64), np.asarray(quantised_logits, dtype=np.float64)
    if ref.ndim != 2 or ref.shape != got.shape:
        raise ValueError(f"logits must be two equal (inputs, classes) arrays, got {ref.shape} and {got.shape}")
    n, classes = ref.shape
    if n == 0 or classes < 2:
        raise ValueError(f"need at least one input and two classes, got {n} input(s) and {classes} class(es)")
    if not (np.isfinite(ref).all() and np.isfinite(got).all()):
        raise ValueError("logits contain NaN or infinity")
    if k < 0 or min_decisive < 1:
        raise ValueError(f"k must be >= 0 and min_decisive >= 1, got k={k}, min_decisive={min_decisive}")
    ref_top1, got_top1 = ref.argmax(1), got.argmax(1)
    same = ref_top1 == got_top1
    delta = got - ref
    centred = delta - delta.mean(axis=1, keepdims=True)
    noise = float(1.4826 * np.median(np.abs(centred - np.median(centred))))
    top2 = np.sort(ref, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    threshold = k * noise * np.sqrt(2.0)
    decisive = margin > threshold
    n_decisive = int(decisive.sum())
    flips = int((decisive & ~same).sum())
    agreement = 1.0 - flips / n_decisive if n_decisive >= min_decisive else None
    return Fidelity(n=n, raw_agreement=float(same.mean()), noise=noise, margin_threshold=float(threshold),
                    n_decisive=n_decisive, decisive_flips=flips, decisive_agreement=agreement)
