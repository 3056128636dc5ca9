"""``python -m mobileclip.eval``: :class:`EvalConfig` (the CLI's options), ``evaluate(cfg)`` and the results table;
the metrics themselves are in :mod:`.metrics` (whose docstring is the command's ``--help``)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.templates import get_templates
from ..models.options import add_teacher
from ..utils.cli import add_threads, set_threads
from ..utils.errors import MobileClipError, cli_errors
from ..utils.fileio import dumps_json, write_json
from ..utils.validate import check_device, check_writable_file
from . import metrics
from .encoders import encoder_label, kd_heads_from_checkpoint, load_encoder
from .metrics import agreement_from_images, plot_zero_shot, retrieval, zero_shot_images, zero_shot_scores

__all__ = ["EvalConfig", "evaluate", "evaluate_encoder", "main", "parse_args", "results_table"]


@dataclass(frozen=True)
class EvalConfig:
    """``python -m mobileclip.eval``: what to evaluate on which data (fields = the CLI's options)."""

    model: str  # student checkpoint (.pt) or teacher spec
    zeroshot: str | None = None
    templates: str = "single,ensemble"
    retrieval: str | None = None
    teacher: str | None = None
    limit: int | None = None
    batch_size: int = 64
    workers: int = 0
    device: str = "cpu"
    threads: int | None = None
    json: str | None = None
    plot: str | None = None
    no_progress: bool = False


def parse_args(argv=None) -> EvalConfig:
    p = argparse.ArgumentParser(prog="python -m mobileclip.eval", description=metrics.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="CKPT_OR_TEACHER",
                   help="student checkpoint (.pt) or teacher: save_pretrained folder, hub name, or vit-b-32-random")
    p.add_argument("--zeroshot", metavar="DIR", help="class-folder dataset for zero-shot (DIR/<class>/<image>)")
    p.add_argument("--templates", default="single,ensemble", metavar="SETS",
                   help="comma-separated prompt sets for zero-shot: single ('a photo of a {}.'), ensemble "
                        "(CLIP's 18 CIFAR-10 prompts), or a text file with one template per line, each with "
                        "one '{}' (default: single,ensemble; agreement and --plot use ensemble if listed, "
                        "else the first)")
    p.add_argument("--retrieval", metavar="CSV", help="image,caption CSV for image<->text retrieval R@1/5/10")
    add_teacher(p, default=None,
                   help="teacher for agreement on the --zeroshot set (folder, hub name, vit-b-32-random, or a .pt)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="evaluate at most N images per task (zero-shot: evenly spaced over the folder; "
                        "retrieval: the first N images with all their captions)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_threads(p)
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT ('-' = stdout, the table then goes to stderr)")
    p.add_argument("--plot", metavar="PNG", help="save the zero-shot confusion matrix (ensemble if listed, else the "
                                                "first template set) to PNG (needs matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return EvalConfig(**vars(p.parse_args(argv)))


def resolve_template_set(name: str) -> list[str]:
    """A named set (single, ensemble) or a text file with one template per line."""
    path = Path(name)
    if name.lower() not in ("single", "ensemble") and path.is_file():
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return get_templates(lines)
    return get_templates(name)


def _write_json(path, obj):
    if path == "-":
        print(dumps_json(obj, what="--json -", indent=2))  # strict JSON (no NaN), like write_json
    else:
        write_json(path, obj)


def _fmt(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.2f}"


def results_table(res: dict) -> str:
    from tabulate import tabulate

    rows = []
    zs = res.get("zeroshot")
    if zs:
        for name, r in zs["templates"].items():
            setting = f"{name} ({r['n_templates']} prompt{'s' if r['n_templates'] != 1 else ''}), n={r['n']}"
            rows.append(["zero-shot", setting, "top-1 %", _pct(r["top1"])])
            rows.append(["zero-shot", setting, "top-5 %", _pct(r["top5"])])
    rt = res.get("retrieval")
    if rt:
        setting = f"{rt['n_images']} images, {rt['n_captions']} captions"
        for d, name in (("image_to_text", "image->text"), ("text_to_image", "text->image")):
            for k, v in rt[d].items():
                rows.append(["retrieval", setting, f"{name} {k} %", _pct(v)])
    ag = res.get("agreement")
    if ag:
        setting = f"vs {ag['teacher']}, n={ag['n']}"
        rows.append(["agreement", setting, "top-1 agreement %", _pct(ag["top1_agreement"])])
        rows.append(["agreement", setting, f"image cosine ({ag['space']['image'] or 'dims differ'})",
                     _fmt(ag["mean_cosine_image"], 4)])
        rows.append(["agreement", setting, f"text cosine ({ag['space']['text'] or 'dims differ'})",
                     _fmt(ag["mean_cosine_text"], 4)])
        rows.append(["agreement", setting, "teacher zero-shot top-1 %", _pct(ag["teacher_top1"])])
    skipped = res.get("skipped", {})
    title = f"model: {res['model']}" + (f"  (skipped images: {skipped})" if any(skipped.values()) else "")
    return title + "\n" + tabulate(rows, headers=["task", "setting", "metric", "value"], tablefmt="github")


def template_sets(cfg: EvalConfig) -> dict[str, list[str]]:
    """Check ``cfg`` before any heavy work; the named template sets, resolved."""
    if not cfg.zeroshot and not cfg.retrieval:
        raise MobileClipError("nothing to evaluate: give --zeroshot DIR and/or --retrieval CSV")
    if cfg.plot and not cfg.zeroshot:
        raise MobileClipError("--plot (confusion matrix) needs --zeroshot DIR")
    if cfg.teacher and not cfg.zeroshot:
        raise MobileClipError("--teacher (agreement) needs --zeroshot DIR")
    if cfg.batch_size < 1 or cfg.workers < 0:
        raise MobileClipError("--batch-size must be >= 1 and --workers >= 0")
    if cfg.limit is not None and cfg.limit < 1:
        raise MobileClipError(f"--limit must be >= 1, got {cfg.limit}")
    sets = [s.strip() for s in cfg.templates.split(",") if s.strip()]
    if not sets:
        raise MobileClipError("--templates is empty")
    templates = {s: resolve_template_set(s) for s in sets}
    check_writable_file(cfg.json, "--json"), check_writable_file(cfg.plot, "--plot")
    check_device(cfg.device, "--device")
    for flag, path, kind in (("--zeroshot", cfg.zeroshot, "dir"), ("--retrieval", cfg.retrieval, "file")):
        if path and not (Path(path).is_dir() if kind == "dir" else Path(path).is_file()):
            raise MobileClipError(f"{flag}: {path} is not an existing {'folder' if kind == 'dir' else 'file'}")
    return templates


def evaluate(cfg: EvalConfig) -> dict:
    """The CLI's work: load ``cfg.model`` (and ``cfg.teacher``), then :func:`evaluate_encoder`."""
    templates = template_sets(cfg)  # validate before any heavy work
    set_threads(cfg.threads)
    encoder, payload = load_encoder(cfg.model, cfg.device, return_payload=True)
    teacher = load_encoder(cfg.teacher, cfg.device) if cfg.teacher else None  # fail early on a bad --teacher
    heads = kd_heads_from_checkpoint(payload) if payload is not None else None
    kind = "student" if payload is not None else "teacher"
    return evaluate_encoder(encoder, cfg, templates, teacher, heads, kind=kind)


def evaluate_encoder(encoder, cfg: EvalConfig, templates: dict, teacher=None, kd_heads=None,
                     kind: str = "student") -> dict:
    """Zero-shot (every template set), retrieval and agreement with ``teacher`` of one encoder, as ``cfg``
    says (its ``model``/``teacher`` fields only name the sources); returns the JSON-ready dict."""
    progress, sets = not cfg.no_progress, list(templates)
    res = {"format": "mobileclip-kd-eval", "format_version": 1, "model": encoder_label(encoder),
           "source": str(cfg.model), "kind": kind,
           "settings": {"templates": sets, "limit": cfg.limit, "batch_size": cfg.batch_size,
                        "device": str(cfg.device), "threads": torch.get_num_threads()},
           "skipped": {}}
    random = [encoder_label(m) for m in (encoder, teacher) if getattr(m, "random_weights", False)]
    if random:
        res["warning"] = f"{random[0]} has RANDOM weights: its accuracy and agreement figures are meaningless"
    chosen = "ensemble" if "ensemble" in sets else sets[0]  # plot and agreement
    if cfg.zeroshot:
        zs = zero_shot_images(encoder, cfg.zeroshot, cfg.batch_size, cfg.limit, cfg.workers, progress)
        res["zeroshot"] = {"dataset": str(cfg.zeroshot), "n": int(len(zs.labels)), "classnames": zs.classnames,
                           "templates": {}}
        for s in sets:
            r = zero_shot_scores(zs, templates[s], progress)
            res["zeroshot"]["templates"][s] = {k: r[k] for k in ("top1", "top5", "n", "n_classes", "n_templates",
                                                                 "per_class_top1")}
            if cfg.plot and s == chosen:
                res["zeroshot"]["plot"] = str(plot_zero_shot(r, cfg.plot, f"{res['model']} on {cfg.zeroshot}"))
        res["skipped"]["zeroshot"] = zs.skipped
    if cfg.retrieval:
        r = retrieval(encoder, cfg.retrieval, cfg.batch_size, cfg.limit, cfg.workers, progress)
        res["retrieval"] = {"dataset": str(cfg.retrieval), **r}
        res["skipped"]["retrieval"] = r["skipped"]
    if teacher is not None:
        tz = zero_shot_images(teacher, cfg.zeroshot, cfg.batch_size, cfg.limit, cfg.workers, progress)
        ag = agreement_from_images(zs, tz, templates[chosen], kd_heads, progress)
        res["agreement"] = {"teacher": encoder_label(teacher), "templates": chosen, **ag}
    return res


def main(argv=None):
    cfg = parse_args(argv)
    with cli_errors("mobileclip.eval"):
        res = evaluate(cfg)
        stream = sys.stderr if cfg.json == "-" else sys.stdout  # keep stdout pure JSON with --json -
        print(results_table(res), file=stream)
        if "warning" in res:
            print(f"WARNING: {res['warning']}", file=stream)
        if cfg.json:
            _write_json(cfg.json, res)
            if cfg.json != "-":
                print(f"wrote {cfg.json}")
    return res


if __name__ == "__main__":
    main()
