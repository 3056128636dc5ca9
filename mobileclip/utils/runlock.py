"""One run per output folder: ``OUT/.mobileclip.lock`` names the owner (pid, host, start time, command).

A second run on the same folder refuses with one line naming the owner. The lock is an ``flock`` on that
file, so the kernel releases it when the owner dies in any way (kill -9 included); the file's text is
only for the message. A lock file left by a dead process on this host is taken over, and said so. One
written on another host (a shared file system) is never taken over: that run may be alive; the message
says how to remove it by hand if it is not.

    with run_lock(out, "mobileclip.train"):
        ...            # the folder is ours; released (file removed) at the end
"""
from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import MobileClipError

LOCK_NAME = ".mobileclip.lock"


class FolderLockedError(MobileClipError):
    pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_text(info: dict) -> str:
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('started', '?')}"
            f" ({info.get('command', '?')})")


def _read_info(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 1 << 16)
    try:
        info = json.loads(raw.decode("utf-8"))
        return info if isinstance(info, dict) else {}
    except (UnicodeDecodeError, ValueError):
        return {}


class RunLock:
    """The held lock on one folder; :meth:`release` removes the file and drops the lock."""

    def __init__(self, folder: Path, fd: int, info: dict, took_over: dict | None, created: list[Path] = ()):
        self.folder, self.fd, self.info, self.took_over = folder, fd, info, took_over
        self.path = folder / LOCK_NAME
        self.created = list(created)  # folders this lock created (deepest first): removed again if left empty

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                self.path.unlink()
        finally:
            os.close(self.fd)
            self.fd = None
        for d in self.created:
            try:
                d.rmdir()
            except OSError:
                break  # not empty: the run wrote something there


def acquire(folder: str | os.PathLike, command: str) -> RunLock:
    """Take ``folder`` for this process or raise :class:`FolderLockedError` (one line)."""
    folder = Path(folder)
    created, p = [], folder.absolute()
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MobileClipError(f"output folder {folder}: cannot be created ({e.strerror})") from None
    path = folder / LOCK_NAME
    host = socket.gethostname()
    for _ in range(10):  # the file may be replaced under us by an owner releasing it: retry on a new inode
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise MobileClipError(f"output folder {folder} is not writable ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            info = _read_info(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderLockedError(f"output folder {folder} is in use by another run ({_owner_text(info)}); "
                                        f"wait for it or choose another --out") from None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = _read_info(fd)
        if previous and previous.get("host") != host:
            os.close(fd)
            raise FolderLockedError(f"output folder {folder} is locked by a run on another host "
                                    f"({_owner_text(previous)}); if that run is over, delete {path}")
        if previous and previous.get("pid") != os.getpid() and _pid_alive(int(previous.get("pid", -1))) \
                and previous.get("lock") != "flock":
            os.close(fd)
            raise FolderLockedError(f"output folder {folder} is in use by another run ({_owner_text(previous)})")
        info = {"pid": os.getpid(), "host": host, "lock": "flock", "command": command,
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
        os.fsync(fd)
        took_over = previous or None
        if took_over:
            print(f"note: took over {path}: its owner ({_owner_text(previous)}) is no longer running",
                  file=sys.stderr, flush=True)
        return RunLock(folder, fd, info, took_over, created)
    raise FolderLockedError(f"output folder {folder}: could not take {path} (it keeps changing)")


@contextmanager
def run_lock(folder: str | os.PathLike, command: str, enabled: bool = True) -> Iterator[RunLock | None]:
    """Hold ``folder`` for the block (``enabled=False``: do nothing, e.g. on non-zero DDP ranks)."""
    if not enabled:
        yield None
        return
    lock = acquire(folder, command)
    try:
        yield lock
    finally:
        lock.release()
