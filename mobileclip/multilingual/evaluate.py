"""Evaluate a multilingual text student (``mobileclip.train_text``) against its teacher.

* **translation retrieval**: for each language xx, R@1/R@5 of student(xx sentence) -> teacher(English sentence)
  over the aligned test pairs (every English sentence is a candidate), next to the **baseline** of the teacher
  reading the xx sentence itself; **English fidelity**: mean cosine student(en) . teacher(en).
* **multilingual zero-shot** (CLIP teachers only): a class folder (CIFAR-10 test), images through the teacher's
  image tower (the space the student was distilled into), class prompts written per language
  (:mod:`mobileclip.multilingual.prompts`) through the student; the English prompts through the teacher's own
  (English) text tower are the reference.

  python -m mobileclip.multilingual_eval runs/text/text_student.pt --teacher TEACHER \\
      --test multi30k/test_2016_flickr --languages de fr cs --zeroshot cifar10/test
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from ..models.options import add_teacher

from ..utils.cli import add_threads, set_threads
from ..utils.errors import MobileClipError, cli_errors

PROG = "python -m mobileclip.multilingual_eval"


@torch.no_grad()
def student_encode(text_tower, texts: list[str], batch_size: int = 256) -> torch.Tensor:
    from ..models.tokenizer import get_tokenizer

    tok = get_tokenizer(text_tower.context_length)
    out = [text_tower(tok(list(texts[i:i + batch_size]))) for i in range(0, len(texts), batch_size)]
    return F.normalize(torch.cat(out).float(), dim=-1)


def paired_recall(queries: torch.Tensor, targets: torch.Tensor, ks=(1, 5)) -> dict:
    """Query i's correct target is target i. Percent R@k."""
    sim = queries @ targets.T
    correct = sim.diagonal().unsqueeze(1)
    rank = (sim > correct).sum(1)  # 0 = best
    return {f"R@{k}": 100.0 * (rank < k).float().mean().item() for k in ks}


def translation_retrieval(text_tower, teacher, test_prefix, languages, source_lang: str = "en") -> dict:
    """``{"n": N, "english_fidelity": cos, "languages": {xx: {"student": {R@1, R@5}, "baseline": {...}}}}``."""
    from .parallel_text import read_parallel, split_files

    corpus = read_parallel(split_files(test_prefix, languages, source_lang), source_lang)
    t_src = teacher.encode(corpus.source)
    s_src = student_encode(text_tower, corpus.source)
    out = {"n": len(corpus), "english_fidelity": (s_src * t_src).sum(-1).mean().item(), "languages": {}}
    for lang, sentences in corpus.translations.items():
        out["languages"][lang] = {"student": paired_recall(student_encode(text_tower, sentences), t_src),
                                  "baseline": paired_recall(teacher.encode(sentences), t_src)}
    return out


def _class_embeddings(encode, prompts: list[list[str]]) -> torch.Tensor:
    flat = [p for per_class in prompts for p in per_class]
    emb = F.normalize(encode(flat), dim=-1).view(len(prompts), len(prompts[0]), -1)
    return F.normalize(emb.mean(1), dim=-1)


def multilingual_zero_shot(text_tower, clip_teacher, root, languages, limit=None, source_lang="en") -> dict:
    """Top-1 (percent) per text encoder and prompt language on the class folder ``root``."""
    from ..evaluation.metrics import zero_shot_images
    from .prompts import class_prompts

    if getattr(clip_teacher, "kind", None) != "clip":
        raise MobileClipError("multilingual zero-shot needs a CLIP teacher (its image tower shares the text space)")
    zs = zero_shot_images(clip_teacher.teacher, root, limit=limit)
    top1 = lambda cls: 100.0 * ((zs.image @ cls.T).argmax(-1) == zs.labels).float().mean().item()  # noqa: E731
    rows = {f"teacher text tower, {source_lang}": top1(_class_embeddings(
        clip_teacher.encode, class_prompts(source_lang, zs.classnames)))}
    for lang in [source_lang, *[x for x in languages if x != source_lang]]:
        prompts = class_prompts(lang, zs.classnames)
        rows[f"student, {lang}"] = top1(_class_embeddings(lambda t: student_encode(text_tower, t), prompts))
        if lang != source_lang:
            rows[f"teacher text tower, {lang} (baseline)"] = top1(_class_embeddings(clip_teacher.encode, prompts))
    return {"n": int(len(zs.labels)), "top1": rows}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="text-only checkpoint (text_student.pt)")
    add_teacher(p, None, help="teacher spec; default: the one recorded in the checkpoint")
    p.add_argument("--test", required=True, help="test prefix: <prefix>.<lang> aligned files")
    p.add_argument("--languages", nargs="+", default=None, help="default: the checkpoint's languages")
    p.add_argument("--zeroshot", default=None, help="class folder for multilingual zero-shot (CLIP teachers)")
    p.add_argument("--zeroshot-limit", type=int, default=None, help="evenly spaced subset of the class folder")
    add_threads(p, 0)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    return p.parse_args(argv)


def evaluate(args) -> dict:
    from ..utils.fileio import atomic_write
    from .checkpoint import load_text_checkpoint
    from .teachers import load_text_teacher, teacher_fingerprint

    set_threads(args.threads)
    text, payload = load_text_checkpoint(args.checkpoint)
    langs = args.languages or payload["languages"][1:]
    teacher = load_text_teacher(args.teacher or payload["teacher"]["source"])
    if teacher_fingerprint(teacher) != payload["teacher"]["fingerprint"]:
        raise MobileClipError(f"teacher {teacher.source!r} is not the one {args.checkpoint} was distilled from "
                              "(embedding-space fingerprints differ)")
    res = {"checkpoint": str(args.checkpoint), "teacher": teacher.describe(),
           "translation": translation_retrieval(text, teacher, args.test, langs, payload["languages"][0])}
    if args.zeroshot:
        res["zeroshot"] = multilingual_zero_shot(text, teacher, args.zeroshot, langs, args.zeroshot_limit)
    if args.out:
        atomic_write(args.out, json.dumps(res, indent=2))
    return res


def tables(res: dict) -> str:
    from tabulate import tabulate

    tr = res["translation"]
    rows = [[lang, v["student"]["R@1"], v["student"]["R@5"], v["baseline"]["R@1"], v["baseline"]["R@5"],
             v["student"]["R@1"] - v["baseline"]["R@1"]] for lang, v in tr["languages"].items()]
    text = (f"Translation retrieval xx -> en over {tr['n']} test pairs (teacher: {res['teacher']['label']}); "
            f"English fidelity (mean cos student(en).teacher(en)) {tr['english_fidelity']:.3f}\n\n")
    text += tabulate(rows, headers=["lang", "student R@1 %", "student R@5 %", "teacher-reads-xx R@1 %",
                                    "teacher-reads-xx R@5 %", "R@1 gain (points)"], floatfmt=".1f", tablefmt="github")
    if "zeroshot" in res:
        zs = res["zeroshot"]
        text += f"\n\nZero-shot top-1 on {zs['n']} images (image tower: the teacher's)\n\n"
        text += tabulate(list(zs["top1"].items()), headers=["text encoder, prompt language", "top-1 %"],
                         floatfmt=".1f", tablefmt="github")
    return text


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.multilingual_eval"):
        res = evaluate(args)
        print(tables(res))
        return res


if __name__ == "__main__":
    main()
