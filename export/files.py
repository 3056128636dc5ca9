"""File helpers of the export package: content hashes, sizes and atomic writes of file and folder artifacts."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a directory (e.g. .mlpackage) as the hash of its sorted (relpath, sha256) list."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode() + b"\0" + sha256_of(p).encode() + b"\n")
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def size_of(path: Path) -> int:
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def atomic_save_dir(path: Path, save: Callable[[Path], None]) -> None:
    """``save(tmp_dir_path)`` then swap it into ``path`` (for directory artifacts such as .mlpackage)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        target = tmpdir / path.name
        save(target)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old.{os.getpid()}"
            os.replace(path, old)
        os.replace(target, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
