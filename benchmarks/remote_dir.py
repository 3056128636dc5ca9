"""The phone-side working folder of ``benchmarks.device``: it only ever removes what it created.

``--remote-dir BASE`` is a folder the harness owns: it creates BASE with a marker file
(``.mobileclip-bench``) when BASE does not exist, and refuses a BASE that exists without that marker (a
user's folder such as /sdcard/DCIM). Each run works in its own new sub-folder ``BASE/run-<time>-<pid>``
(marked too); clean-up removes that sub-folder, then the marker and BASE itself only if this run created
BASE and it is empty (``rmdir``). Nothing else on the phone is written or deleted.
"""
from __future__ import annotations

import os
import posixpath
import shlex
import time
from dataclasses import dataclass

from mobileclip.utils.errors import MobileClipError

MARKER = ".mobileclip-bench"


@dataclass
class RemoteRun:
    base: str
    run: str
    created_base: bool


def _exists(adb, path: str, flag: str = "-e") -> bool:
    _, rc = adb.shell(f"test {flag} {shlex.quote(path)}", check=False, what=f"test {flag} {path}")
    return rc == 0


def check_remote_base(base: str) -> str:
    """An absolute, normalised phone path that is not the root and has no ``..``/``.`` parts."""
    base = (base or "").rstrip("/")
    if not base.startswith("/") or any(p in (".", "..") for p in base.split("/")) or "\0" in base:
        raise MobileClipError(f"--remote-dir {base or '(empty)'!r}: an absolute folder path on the phone without "
                              f"'.' or '..', e.g. /data/local/tmp/mobileclip-bench")
    return posixpath.normpath(base)


def prepare(adb, base: str) -> RemoteRun:
    """Check BASE is ours (or create it, marked), then create this run's own marked sub-folder."""
    base = check_remote_base(base)
    created = False
    if _exists(adb, base):
        if not _exists(adb, f"{base}/{MARKER}", "-f"):
            raise MobileClipError(f"--remote-dir {base} exists on the phone and was not created by "
                                  f"benchmarks.device (no {MARKER} in it); give a new folder, e.g. "
                                  f"/data/local/tmp/mobileclip-bench: the harness never writes into or deletes "
                                  f"folders it did not create")
    else:
        adb.shell(f"mkdir -p {shlex.quote(base)}", what=f"create {base}")
        adb.shell(f"touch {shlex.quote(base + '/' + MARKER)}", what=f"mark {base}")
        created = True
    run = f"{base}/run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    if _exists(adb, run):
        raise MobileClipError(f"{run} already exists on the phone (not made by this run); try again")
    adb.shell(f"mkdir {shlex.quote(run)}", what=f"create {run}")
    adb.shell(f"touch {shlex.quote(run + '/' + MARKER)}", what=f"mark {run}")
    return RemoteRun(base, run, created)


def clean_up(adb, remote: RemoteRun) -> None:
    """Remove this run's sub-folder; BASE (and its marker) only if this run created it and nothing else is left."""
    adb.shell(f"rm -rf {shlex.quote(remote.run)}", timeout=60, what="clean-up")
    if remote.created_base:
        marker = shlex.quote(f"{remote.base}/{MARKER}")
        adb.shell(f"rm -f {marker}", timeout=60, what="clean-up")
        _, rc = adb.shell(f"rmdir {shlex.quote(remote.base)}", timeout=60, check=False, what="clean-up")
        if rc != 0:  # something else is in it now: keep it, still marked as ours
            adb.shell(f"touch {marker}", timeout=60, check=False, what="clean-up")
