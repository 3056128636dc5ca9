"""The KD phase schedule (which loss terms are active at which step) and the learning-rate curve."""
from __future__ import annotations

import math

from ..utils.errors import TrainError

FD_TERMS = ["fd_image", "fd_text"]
ICL_TERMS = ["icl_image", "icl_text"]
RD_TERMS = ["rd_i2t", "rd_t2i"]
AM_TERMS = ["am_image", "am_text"]
ALL_TERMS = ["contrastive", *FD_TERMS, *ICL_TERMS, *RD_TERMS, *AM_TERMS]
# --loss-terms names a family; each family is one or two logged terms
FAMILIES = {"contrastive": ["contrastive"], "fd": FD_TERMS, "icl": ICL_TERMS, "rd": RD_TERMS, "am": AM_TERMS}
DEFAULT_LOSS_TERMS = "contrastive,fd,icl,rd"


def loss_families(text: str, affinity: bool = False) -> list[str]:
    """``--loss-terms`` (comma-separated families) -> the family names in :data:`FAMILIES` order; ``--affinity``
    adds ``am``. Unknown, repeated or no family: one line."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names or len(set(names)) != len(names):
        raise TrainError(f"--loss-terms {text!r}: give one or more distinct families of {', '.join(FAMILIES)} "
                         f"(comma-separated)" + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    chosen = set(names) | ({"am"} if affinity else set())
    return [f for f in FAMILIES if f in chosen]


class Schedule:
    """Phases by step: ``[("align", n1), ("distil", n2), ("joint", rest)]``, or one ``contrastive`` phase.

    ``families``: the loss families trained (:func:`loss_families`); each phase keeps its own families among them
    (align: fd; distil: fd, icl, rd, am; joint: all). A phase with steps but none of its families is an error."""

    def __init__(self, total_steps: int, kd: bool, align_steps: int = -1, distil_steps: int = -1,
                 families: list[str] | None = None):
        self.total, self.kd = total_steps, kd
        self.families = list(families) if families is not None else loss_families(DEFAULT_LOSS_TERMS)
        if not kd:
            self.phases = [("contrastive", total_steps)]
            return
        a = round(0.1 * total_steps) if align_steps < 0 else align_steps
        d = round(0.3 * total_steps) if distil_steps < 0 else distil_steps
        if a + d > total_steps:
            raise TrainError(f"align ({a}) + distil ({d}) steps exceed --steps {total_steps}")
        self.phases = [("align", a), ("distil", d), ("joint", total_steps - a - d)]
        flags = {"align": "--align-steps", "distil": "--distil-steps"}
        for name, n in self.phases:
            if n and not self.terms(name):
                raise TrainError(f"--loss-terms {','.join(self.families)}: the {name} phase ({n} steps) trains none "
                                 f"of them" + (f"; give {flags[name]} 0" if name in flags else ""))

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
        """The logged loss terms active in ``phase``."""
        if phase == "contrastive":
            return ["contrastive"]
        phase_families = {"align": ["fd"], "distil": ["fd", "icl", "rd", "am"], "joint": list(FAMILIES)}[phase]
        return [t for f in phase_families if f in self.families for t in FAMILIES[f]]


def lr_lambda(warmup: int, total: int, min_ratio: float):
    """Linear warm-up then cosine decay to ``min_ratio`` of the peak learning rate."""
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f

