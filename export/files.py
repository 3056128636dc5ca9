"""File helpers of the export package: content hashes (cached per process), sizes, atomic writes of file and
folder artifacts, and :class:`ExportStaging`, which makes one export run a transaction.

An export run writes every file (tower models, ``tokenizer/``, the merged ``manifest.json``) into a staging
folder ``OUT/.export-staging-<8 random chars>`` and moves them into ``OUT`` only when all are written and
verified: an error, Ctrl-C or a full disk before that leaves ``OUT`` as it was. The move ("commit") first writes
the list of moves (``COMMIT.json``), then renames file by file with Ctrl-C held back, the manifest last. The
staging folder holds an ``flock`` for its run's lifetime, so the next export into ``OUT`` can tell one a killed
run left behind (lock free) from a live one: it finishes a committed one's moves and removes an uncommitted one.
Nothing but folders of exactly that name pattern is touched.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from mobileclip.utils.errors import MobileClipError
from mobileclip.utils.fileio import atomic_write

from .errors import InterruptedAfterCommit

STAGING_PREFIX = ".export-staging-"
STAGING_PATTERN = re.compile(r"^\.export-staging-[a-z0-9_]{8}$")  # tempfile.mkdtemp's 8 random characters
_LOCK, _JOURNAL, _REPLACED = ".lock", "COMMIT.json", ".replaced"
_HASHES: dict[tuple, str] = {}  # (resolved path, fingerprint) -> sha256: each file is hashed once per process


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


def _fingerprint(path: Path) -> tuple:
    """What changes when a file (or any file of a folder) is rewritten: inode, size and mtime of each."""
    files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
    return tuple((str(q.relative_to(path)) if q != path else "", (s := q.stat()).st_ino, s.st_size, s.st_mtime_ns)
                 for q in files)


def cached_sha256(path: Path) -> str:
    """:func:`sha256_of`, computed once per process for a file whose inode, size and mtime stay the same."""
    path = Path(path).resolve()
    key = (str(path), _fingerprint(path))
    if key not in _HASHES:
        _HASHES[key] = sha256_of(path)
    return _HASHES[key]


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


class ExportStaging:
    """One export run's staging folder inside ``out`` (see the module docstring)::

        with ExportStaging(out) as stage:
            write stage.dir / "executorch/image_fp32.pte", ..., stage.dir / "manifest.json"
            stage.commit(["executorch/image_fp32.pte", "tokenizer", "manifest.json"])   # the manifest last

    Leaving the block without :meth:`commit` removes the staging folder: ``out`` keeps its previous export."""

    def __init__(self, out):
        self.out = Path(out)
        self._created = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        recover_staging(self.out)
        self.dir = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out))
        self._fd = os.open(self.dir / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.committed = self._unfinished = False

    def __enter__(self) -> "ExportStaging":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if not self._unfinished:
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            os.close(self._fd)
        if self._created and not self.committed:
            try:
                self.out.rmdir()  # the folder this run created, left empty again
            except OSError:
                pass

    def commit(self, rels: list[str]) -> None:
        """Move ``rels`` (paths relative to the staging folder, the manifest last) into ``out``."""
        atomic_write(self.dir / _JOURNAL, json.dumps({"moves": list(rels)}))
        with _sigint_held_back():
            try:
                _move_in(self.dir, self.out, rels)
            except OSError as e:  # a rename failed half-way: kept, and finished by the next export into out
                self._unfinished = True
                raise MobileClipError(f"{self.out}: moving the new export in failed half-way ({e}); the files "
                                      f"wait in {self.dir.name}: the next export into {self.out} finishes the "
                                      f"move") from None
        self.committed = True


@contextmanager
def _sigint_held_back():
    """Ctrl-C during the block is delivered when it ends (as :class:`InterruptedAfterCommit`, a
    KeyboardInterrupt), not in the middle of it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise InterruptedAfterCommit


def _move_in(staging: Path, out: Path, rels: list[str]) -> None:
    """Rename each ``staging/rel`` over ``out/rel`` (a folder is set aside, then replaced); one already moved
    (absent from ``staging``) is skipped, so a commit a kill interrupted can be finished by running it again."""
    for rel in rels:
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise MobileClipError(f"{staging / _JOURNAL}: {rel!r} is not a path inside the export folder")
        src, dst = staging / rel, out / rel
        if not src.exists() and not src.is_symlink():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if (dst.is_dir() and not dst.is_symlink()) or (src.is_dir() and dst.exists()):
            aside = staging / _REPLACED / rel
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dst, aside)
        os.replace(src, dst)


def recover_staging(out) -> list[str]:
    """Finish or remove the staging folders killed export runs left in ``out`` (only names of
    :data:`STAGING_PATTERN` whose lock no live run holds); returns one line per folder handled."""
    out, done = Path(out), []
    for p in sorted(out.iterdir()) if out.is_dir() else []:
        if not STAGING_PATTERN.match(p.name) or p.is_symlink() or not p.is_dir():
            continue
        try:
            fd = os.open(p / _LOCK, os.O_RDWR)
        except FileNotFoundError:  # a run between creating the folder and locking it, or killed right then
            if time.time() - p.stat().st_mtime > 60:
                try:
                    p.rmdir()  # only ever an empty one
                except OSError:
                    pass
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live export run's
            os.close(fd)
            continue
        try:
            journal = p / _JOURNAL
            if journal.is_file():
                try:
                    moves = json.loads(journal.read_text())["moves"]
                except (ValueError, KeyError, TypeError) as e:
                    raise MobileClipError(f"{journal} is unreadable ({type(e).__name__}); move the export "
                                          f"files out of {p} by hand, then remove it") from None
                _move_in(p, out, moves)
                done.append(f"finished moving in the files of an export interrupted while committing ({p.name})")
            else:
                done.append(f"removed the unfinished files of an interrupted export ({p.name})")
            shutil.rmtree(p)
        finally:
            os.close(fd)
    for line in done:
        print(f"note: {out}: {line}")
    return done
