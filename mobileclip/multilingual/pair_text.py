"""Pair a multilingual text-only checkpoint with an image student distilled from the same CLIP teacher.

  python -m mobileclip.pair_text runs/text/text_student.pt runs/kd/final.pt --out student_multilingual.pt

Both towers must live in the teacher's space: the text student was distilled into it directly (its
``embed_dim`` is the teacher's); the image student maps into it through its KD head (``extra["kd_heads"]``),
which is folded into the image projection (``normalize(W @ normalize(P x)) == normalize((W P) x)``), or needs
none when its ``embed_dim`` already equals the teacher's. The result is an ordinary student checkpoint
(``mobileclip.load_checkpoint``, the exporters) whose ``extra["languages"]`` lists the languages it reads.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
from pathlib import Path

import torch

from ..utils.errors import CheckpointError, cli_errors

PROG = "python -m mobileclip.pair_text"


def _same_teacher(text_teacher: dict, image_teacher) -> bool:
    if not image_teacher:
        return False
    a, b = str(text_teacher.get("source", "")), str(image_teacher)
    if os.path.isdir(a) and os.path.isdir(b):
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def pair_text(text_ckpt, image_ckpt, out) -> Path:
    from ..models.checkpoint import load_checkpoint, save_checkpoint
    from ..models.factory import create_model_from_config
    from .checkpoint import load_text_checkpoint

    text, tpay = load_text_checkpoint(text_ckpt)
    image_model, ipay = load_checkpoint(image_ckpt, return_payload=True)
    teacher = tpay["teacher"]
    if teacher["kind"] != "clip":
        raise CheckpointError(f"{text_ckpt} was distilled from a {teacher['kind']} teacher (text only): no image "
                              "tower shares its space; distil from a CLIP teacher to pair with an image student")
    if not _same_teacher(teacher, ipay["extra"].get("teacher")):
        raise CheckpointError(f"teachers differ: {text_ckpt} lives in {teacher['source']!r}, {image_ckpt} was "
                              f"distilled from {ipay['extra'].get('teacher')!r}")
    dim = int(teacher["embed_dim"])
    proj = image_model.visual.projection.weight.detach()
    heads = ipay["extra"].get("kd_heads")
    if heads:
        proj = heads["image"]["weight"] @ proj
    elif image_model.embed_dim != dim:
        raise CheckpointError(f"{image_ckpt}: embed_dim {image_model.embed_dim} != teacher's {dim} and no KD head")
    cfg = copy.deepcopy(ipay["model_config"])
    cfg.update(embed_dim=dim, text_cfg=copy.deepcopy(tpay["model_config"]["text_cfg"]),
               init_logit_scale=math.log(tpay["logit_scale"]),
               description=f"{cfg.get('description', '')} + multilingual text tower ({', '.join(tpay['languages'])})")
    model = create_model_from_config(cfg)
    state = {k: v for k, v in image_model.visual.state_dict().items() if k != "projection.weight"}
    model.visual.load_state_dict({**state, "projection.weight": proj}, strict=True)
    model.text.load_state_dict(text.state_dict(), strict=True)
    model.config = cfg
    extra = {"languages": list(tpay["languages"]), "teacher": ipay["extra"].get("teacher"), "kd_heads": None,
             "paired_from": {"text": str(text_ckpt), "image": str(image_ckpt)}, "text_teacher": teacher}
    return save_checkpoint(model.eval(), out, extra=extra)


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text_checkpoint", help="text-only checkpoint from mobileclip.train_text")
    p.add_argument("image_checkpoint", help="student checkpoint distilled from the same CLIP teacher")
    p.add_argument("--out", required=True, help="paired student checkpoint to write (must not exist)")
    a = p.parse_args(argv)
    with cli_errors("mobileclip.pair_text"):
        if Path(a.out).exists():
            raise CheckpointError(f"{a.out} exists; choose a new --out (nothing is overwritten)")
        with torch.no_grad():
            path = pair_text(a.text_checkpoint, a.image_checkpoint, a.out)
        print(f"paired student -> {path}")


if __name__ == "__main__":
    main()
