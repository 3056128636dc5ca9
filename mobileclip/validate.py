"""Input checks run before any long work: each problem is one line (a :class:`MobileClipError`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import MobileClipError

TOWERS = ("image", "text")


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable_dir(path, flag: str, shown=None) -> Path:
    """``path`` is (or can be created as) a folder this process can write into (``shown``: the path named in
    the message, e.g. the file to be written in it)."""
    path = Path(path)
    shown = shown or path
    if path.exists() and not path.is_dir():
        raise MobileClipError(f"{flag} {shown}: cannot be written ({path} is a file, not a folder)")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise MobileClipError(f"{flag} {shown}: cannot be created ({base} is a file, not a folder)")
    if not os.access(base, os.W_OK | os.X_OK):
        raise MobileClipError(f"{flag} {shown}: not writable ({base} does not allow writing)")
    return path


def check_writable_file(path, flag: str) -> Path | None:
    """``path`` can be written as a file (its folder exists or can be created and is writable); ``-``/None pass."""
    if path in (None, "", "-"):
        return None
    path = Path(path)
    if path.is_dir():
        raise MobileClipError(f"{flag} {path}: is a folder, expected a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise MobileClipError(f"{flag} {path}: exists and is not writable")
    check_writable_dir(path.parent, flag, shown=path)
    return path


def parse_towers(spec: str, error: type[MobileClipError] = MobileClipError) -> list[str]:
    """``image,text`` -> ``["image", "text"]``; empty, unknown or repeated towers are an ``error``."""
    towers = [t.strip() for t in (spec or "").split(",") if t.strip()]
    if not towers:
        raise error("--towers is empty; use image, text or image,text")
    for t in towers:
        if t not in TOWERS:
            raise error(f"--towers: unknown tower {t!r}; use image, text or image,text")
    if len(set(towers)) != len(towers):
        raise error(f"--towers {spec!r} names a tower twice; use image, text or image,text")
    return towers


def parse_positive_ints(spec: str, flag: str) -> list[int]:
    """``1,4`` -> ``[1, 4]``; anything else than comma-separated positive integers is an error."""
    items = [t.strip() for t in (spec or "").split(",") if t.strip()]
    if not items or not all(t.isdigit() and int(t) > 0 for t in items):
        raise MobileClipError(f"{flag} {spec!r}: expected comma-separated positive integers, e.g. 1,4")
    return [int(t) for t in items]


def check_train_args(args) -> None:
    """The trainer's numbers: each one that cannot work is refused before the model is built."""
    rules = [
        (args.steps >= 1, f"--steps must be >= 1, got {args.steps} (nothing would be trained)"),
        (args.batch_size >= 2, f"--batch-size must be >= 2, got {args.batch_size} (BatchNorm and the contrastive "
                               f"loss need at least two samples per batch)"),
        (args.lr > 0, f"--lr must be > 0, got {args.lr}"),
        (args.balancer_lr >= 0, f"--balancer-lr must be >= 0, got {args.balancer_lr}"),
        (args.weight_decay >= 0, f"--weight-decay must be >= 0, got {args.weight_decay}"),
        (args.save_every >= 1, f"--save-every must be >= 1, got {args.save_every}"),
        (args.log_every >= 1, f"--log-every must be >= 1, got {args.log_every}"),
        (args.workers >= 0, f"--workers must be >= 0, got {args.workers}"),
        (args.threads >= 0, f"--threads must be >= 0 (0 = torch's default), got {args.threads}"),
        (args.max_nonfinite >= 1, f"--max-nonfinite must be >= 1, got {args.max_nonfinite}"),
        (0 < args.train_subset <= 1, f"--train-subset must be in (0, 1], got {args.train_subset}"),
        (args.grad_clip >= 0, f"--grad-clip must be >= 0 (0 = off), got {args.grad_clip}"),
        (0 <= args.min_lr_ratio <= 1, f"--min-lr-ratio must be in [0, 1], got {args.min_lr_ratio}"),
        (0 < args.crop_scale[0] <= args.crop_scale[1] <= 1,
         f"--crop-scale MIN MAX must satisfy 0 < MIN <= MAX <= 1, got {list(args.crop_scale)}"),
        (args.aug_variants >= 0, f"--aug-variants must be >= 0, got {args.aug_variants}"),
        (args.bn_recalibrate >= 0, f"--bn-recalibrate must be >= 0, got {args.bn_recalibrate}"),
        (args.temperature > 0, f"--temperature must be > 0, got {args.temperature}"),
        (args.stop_after is None or args.stop_after >= 1, f"--stop-after must be >= 1, got {args.stop_after}"),
    ]
    for ok, msg in rules:
        if not ok:
            raise MobileClipError(msg)
    check_writable_dir(args.out, "--out")
    if args.model_overrides:
        try:
            if not isinstance(json.loads(args.model_overrides), dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise MobileClipError(f"--model-overrides: not a JSON object ({e})") from None


def check_existing_manifest(out) -> None:
    """An export folder's manifest.json, if present, must be a JSON object: it is merged, never silently
    replaced (move it away to start afresh)."""
    path = Path(out) / "manifest.json"
    if not path.exists():
        return
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MobileClipError(f"{path} exists but is not valid JSON ({e}); fix or remove it, it is not "
                              f"overwritten") from None
    if not isinstance(manifest, dict):
        raise MobileClipError(f"{path} exists but is not a JSON object (found {type(manifest).__name__}); "
                              f"fix or remove it, it is not overwritten")


def confined(folder, name: str, what: str = "manifest entry") -> Path:
    """``folder/name`` for a relative ``name`` that stays inside ``folder`` (no ``..``, no absolute path, no
    symlink leading out); anything else is an error that does not echo the target's contents."""
    folder = Path(folder)
    if not isinstance(name, str) or not name or "\0" in name:
        raise MobileClipError(f"{folder}: {what} has no usable file name")
    rel = Path(name)
    if rel.is_absolute() or name.startswith(("/", "\\")) or ".." in rel.parts:
        raise MobileClipError(f"{folder}: {what} {name!r} points outside the folder (absolute or '..' path)")
    path = folder / rel
    root = folder.resolve()
    resolved = path.resolve()
    if resolved == root:
        raise MobileClipError(f"{folder}: {what} {name!r} names the folder itself, not a file in it")
    if root not in resolved.parents:
        raise MobileClipError(f"{folder}: {what} {name!r} resolves outside the folder (a symlink?)")
    return path


def check_zero_shot_classes(root, classnames) -> None:
    """Zero-shot needs two classes at least: with one, every prediction is right by construction."""
    if len(classnames) < 2:
        raise MobileClipError(f"{root}: zero-shot needs at least 2 class sub-folders, found {len(classnames)} "
                              f"({', '.join(classnames) or 'none'}); top-1 over one class is always 100 %")


def check_manifest_models(manifest, path) -> dict:
    """What every manifest reader indexes: an object whose ``models`` is a list of objects with string
    ``backend``, ``tower``, ``quantization`` and ``file``."""
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, list):
        raise MobileClipError(f"{path}: 'models' is missing or not a list")
    for i, m in enumerate(models):
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in
                                              ("backend", "tower", "quantization", "file")):
            raise MobileClipError(f"{path}: models[{i}] needs string backend, tower, quantization and file")
    return manifest
