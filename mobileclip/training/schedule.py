"""The KD phase schedule (which loss terms are active at which step) and the learning-rate curve."""
from __future__ import annotations

import math

from ..utils.errors import TrainError

FD_TERMS = ["fd_image", "fd_text"]
ICL_TERMS = ["icl_image", "icl_text"]
RD_TERMS = ["rd_i2t", "rd_t2i"]
AM_TERMS = ["am_image", "am_text"]
ALL_TERMS = ["contrastive", *FD_TERMS, *ICL_TERMS, *RD_TERMS, *AM_TERMS]


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

