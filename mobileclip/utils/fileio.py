"""Atomic writes: a temp file in the destination folder, renamed over the target only when complete.

A crash, a full disk or Ctrl-C never leaves a half-written checkpoint, manifest, report or shard behind.
Temp files are named ``.<name>.<8 random chars><suffix>`` (``tempfile.mkstemp``); one that a kill -9 left
behind is removed by :func:`remove_stale_temps` when the next run takes the folder (only names of that
pattern, for the file names the run writes). Written files get the mode a plain ``open()`` would give
(0666 minus the umask: 0644 usually), not ``mkstemp``'s 0600. JSON is strict (:func:`write_json`).
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import MobileClipError

_TEMP_CHARS = "[a-z0-9_]{8}"  # tempfile's random names: 8 of "abcdefghijklmnopqrstuvwxyz0123456789_"


def _temp_suffix(path: Path, suffix: str | None) -> str:
    return suffix or path.suffix or ".tmp"


def default_file_mode() -> int:
    """0666 minus the process umask: what ``open(path, "w")`` would create."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same suffix unless given) for code that writes by path;
    it replaces ``path`` when the block succeeds and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_temp_suffix(path, suffix))
    os.close(fd)
    try:
        yield Path(tmp)
        if Path(tmp).is_file():
            os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def deferred_interrupt(what: str = "the file being written") -> Iterator[None]:
    """Ctrl-C during the block lets it finish (a file write takes moments) and is raised after it; a second Ctrl-C
    stops at once. Only in the main thread (signal handlers live there) and while Ctrl-C has Python's default
    handler: inside a caller's own hold (an export's commit) the block runs as it is and the caller decides."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    got: list[int] = []

    def handler(signum, frame):
        if got:
            raise KeyboardInterrupt
        got.append(signum)
        print(f"\ninterrupt: finishing {what}, then stopping (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if got:
        raise KeyboardInterrupt


def _write_error(path: Path, e: BaseException) -> BaseException:
    """What stopped a write, as the user should see it: torch's writer reports an interrupt or a full disk met
    inside it as a ``RuntimeError`` of ``inline_container.cc``; the cause is in its context chain."""
    cause = e
    while cause is not None and not isinstance(cause, (KeyboardInterrupt, OSError)):
        cause = cause.__context__
    if isinstance(cause, KeyboardInterrupt):
        return KeyboardInterrupt()
    if isinstance(cause, OSError):
        why = cause.strerror or str(cause)
        hint = " (disk full)" if cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
        return MobileClipError(f"cannot write {path}: {why}{hint}; {path.name} is as it was before this write")
    return e


@contextmanager
def _writing(path: str | os.PathLike) -> Iterator[Path]:
    """:func:`atomic_path` whose failures are one line (:func:`_write_error`), with Ctrl-C deferred to its end."""
    try:
        with deferred_interrupt(str(path)), atomic_path(path) as tmp:
            yield tmp
    except (OSError, RuntimeError, KeyboardInterrupt) as e:
        err = _write_error(Path(path), e)
        if err is e:
            raise
        raise err from None


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to ``path`` atomically, fsynced before the rename. A full disk or a
    failed write is one :class:`MobileClipError` line; the previous file stays."""
    with _writing(path) as tmp, open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically, fsynced before the rename. A full disk is one
    :class:`MobileClipError` line and Ctrl-C a ``KeyboardInterrupt`` (never torch's ``RuntimeError``); either way
    the previous file stays as it was."""
    import torch

    with _writing(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def temp_name_pattern(name: str, suffix: str | None = None) -> re.Pattern:
    """The names :func:`atomic_path` gives temp files for target file ``name``."""
    return re.compile(rf"^\.{re.escape(name)}\.{_TEMP_CHARS}{re.escape(_temp_suffix(Path(name), suffix))}$")


def remove_stale_temps(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Remove temp files an interrupted atomic write of ``folder/<name>`` left behind; returns what was removed.

    Call it only while holding the folder (:mod:`mobileclip.utils.runlock`): a live writer's temp file has the
    same name. Nothing but files of exactly that pattern is touched."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    patterns = [temp_name_pattern(n) for n in names]
    removed = []
    for p in sorted(folder.iterdir()):
        if any(pat.match(p.name) for pat in patterns) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _nonfinite_where(obj, where: str = "") -> str | None:
    """JSON path of the first NaN/inf float in ``obj`` (None if none)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "(root)"
    if isinstance(obj, dict):
        for k, v in obj.items():
            hit = _nonfinite_where(v, f"{where}/{k}")
            if hit:
                return hit
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            hit = _nonfinite_where(v, f"{where}/{i}")
            if hit:
                return hit
    return None


def dumps_json(obj, what: str = "JSON", **kwargs) -> str:
    """``json.dumps`` that refuses NaN/Infinity (not JSON: strict parsers, the apps', JavaScript's, reject it)."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:
        where = _nonfinite_where(obj)
        if where is None:
            raise
        raise MobileClipError(f"{what}: non-finite number (NaN or infinity) at {where}; refusing to write "
                              f"invalid JSON") from None


def write_json(path: str | os.PathLike, obj, indent: int | None = 2, **kwargs) -> Path:
    """Strict JSON (no NaN/Infinity) written atomically, with a final newline."""
    return atomic_write(path, dumps_json(obj, what=str(path), indent=indent, **kwargs) + "\n")
