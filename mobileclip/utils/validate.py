"""Input checks run before any long work: each problem is one line (a :class:`MobileClipError`)."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import MobileClipError


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


def parse_positive_ints(spec: str, flag: str) -> list[int]:
    """``1,4`` -> ``[1, 4]``; anything else than comma-separated positive integers is an error."""
    items = [t.strip() for t in (spec or "").split(",") if t.strip()]
    if not items or not all(t.isdigit() and int(t) > 0 for t in items):
        raise MobileClipError(f"{flag} {spec!r}: expected comma-separated positive integers, e.g. 1,4")
    return [int(t) for t in items]


def check_zero_shot_classes(root, classnames) -> None:
    """Zero-shot needs two classes at least: with one, every prediction is right by construction."""
    if len(classnames) < 2:
        raise MobileClipError(f"{root}: zero-shot needs at least 2 class sub-folders, found {len(classnames)} "
                              f"({', '.join(classnames) or 'none'}); top-1 over one class is always 100 %")


def check_device(spec: str, flag: str = "--device", allow_auto: bool = False):
    """``spec`` names a device torch can use here (``cpu``, ``cuda``, ``cuda:N``, ``mps``; ``auto`` if allowed):
    a misspelt name or an accelerator this machine lacks is one line before any work. Returns the torch.device
    (None for ``auto``)."""
    import torch

    if allow_auto and spec == "auto":
        return None
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise MobileClipError(f"{flag} {spec!r}: not a device name; expected {'auto, ' if allow_auto else ''}cpu, "
                              f"cuda or cuda:N") from None
    if device.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise MobileClipError(f"{flag} {spec}: {why}; use --device cpu" + (" or auto" if allow_auto else ""))
        if device.index is not None and device.index >= n:
            raise MobileClipError(f"{flag} {spec}: only {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
    elif device.type != "cpu":
        backend = getattr(torch.backends, device.type, None) or getattr(torch, device.type, None)
        if backend is None or not getattr(backend, "is_available", lambda: False)():
            raise MobileClipError(f"{flag} {spec}: {device.type} is not available on this machine; use --device cpu")
    return device
