"""The model options every CLI shares, defined once: ``--teacher`` and ``--model``. Defaults differ on purpose
between commands (a benchmark counts the random ViT-B/32 by default, training distils from the real one): each
command passes its own default, and :data:`~mobileclip.models.teacher.DEFAULT_TEACHER` /
:data:`~mobileclip.models.factory.DEFAULT_MODEL` are the project-wide ones."""
from __future__ import annotations

from .factory import DEFAULT_MODEL
from .teacher import DEFAULT_TEACHER

__all__ = ["TEACHER_SPECS", "add_model", "add_teacher"]

TEACHER_SPECS = ("HF CLIP/SigLIP hub name or save_pretrained dir (hf:NAME), open_clip:MODEL/TAG|FILE|random, "
                 "ensemble:SPEC,SPEC, or vit-b-32-random (docs/teachers.md)")


def add_teacher(p, default: str | None = DEFAULT_TEACHER, required: bool = False, help: str | None = None):
    """``--teacher SPEC``: a CLIP teacher (see :data:`TEACHER_SPECS`)."""
    return p.add_argument("--teacher", default=default, required=required,
                          help=help or f"teacher: {TEACHER_SPECS}")


def add_model(p, default: str = DEFAULT_MODEL, flag: str = "--model",
              help: str = "student registry config (mobileclip.list_models())"):
    """``--model NAME`` (or ``flag``): a student registry config."""
    return p.add_argument(flag, default=default, help=help)
