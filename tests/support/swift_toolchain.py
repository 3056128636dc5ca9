"""A Swift toolchain for `swift test` of ios_demo/MobileCLIPKit on Linux.

Where it comes from, first that works:
1. ``swift`` on PATH (a Mac, a swift.org toolchain, a Swift machine);
2. Debian 13 ("trixie"): ``apt-get install swiftlang`` (as root);
3. Debian 12 as root: a minimal Debian 13 root file system, made with the real ``debootstrap`` from Debian's own
   mirror, with ``swiftlang`` installed in it (about 1 minute and 3.2 GB, once; kept in the user's cache folder,
   ``$XDG_CACHE_HOME/mobileclip-kd/swift-debian13``). ``swift test`` then runs in it through ``unshare --mount``
   + ``chroot``, with the repository bind-mounted read-only and a scratch folder bind-mounted for the build; the
   mounts live in a private mount namespace and vanish with the process.

Anything else returns the reason, for a skip. Run ``python tests/swift_toolchain.py`` to run the Swift tests by
hand the same way, ``python tests/swift_toolchain.py bench`` for the desktop search benchmark.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.apps.test_android_core import apt_install  # the host's apt-get (root check, one `apt-get update` retry)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ios_demo" / "MobileCLIPKit"
MIRROR = "http://deb.debian.org/debian"
# swiftlang's build needs the C and C++ runtime headers/objects; --no-install-recommends leaves them out
CHROOT_PACKAGES = ("swiftlang", "libc6-dev", "libstdc++-14-dev")
SETUP_TIMEOUT = 1200
READY = ".mobileclip-ready"  # written last: a root without it is unfinished


def debian_major() -> str | None:
    try:
        return Path("/etc/debian_version").read_text().strip().split(".")[0]
    except OSError:
        return None


def chroot_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mobileclip-kd" / "swift-debian13"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=SETUP_TIMEOUT, **kw)


def _last_line(r: subprocess.CompletedProcess) -> str:
    return ((r.stderr or r.stdout).strip().splitlines() or ["?"])[-1]


def _in_root(root: Path, inner: str, mounts: str = "") -> list[str]:
    """Runs the shell line ``inner`` chrooted in ``root`` (/proc, /dev and ``mounts`` in a private namespace)."""
    r = shlex.quote(str(root))
    base = f"mount -t proc proc {r}/proc && mount --rbind /dev {r}/dev"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"{base} {mounts} && chroot {r} {inner}"]


@dataclass(frozen=True)
class Swift:
    """A usable toolchain: a ``swift`` binary run in place, or a Debian 13 root that has one."""
    how: str
    binary: str | None = None
    root: Path | None = None

    def seen_path(self, scratch: Path, sub: str) -> str:
        """The path under which ``swift test`` sees ``scratch / sub``."""
        return str(scratch / sub) if self.root is None else f"/scratch/{sub}"

    def test_argv(self, scratch: Path, env: dict[str, str]) -> list[str]:
        """``swift test`` of MobileCLIPKit, building in ``scratch``; ``env`` is set for the tests. Release build
        (``-O``, as the app ships; ``-enable-testing`` for ``@testable``): the 10,000-photo and search tests take
        a second instead of a minute."""
        return self.argv(scratch, env, ["test", "-c", "release", "-Xswiftc", "-enable-testing"])

    def bench_argv(self, scratch: Path, *args: str) -> list[str]:
        """``swift run -c release mobileclip-search-bench [args]``: the desktop search benchmark."""
        return self.argv(scratch, {}, ["run", "-c", "release", "mobileclip-search-bench", *args])

    def argv(self, scratch: Path, env: dict[str, str], swift_args: list[str]) -> list[str]:
        """``swift <swift_args>`` on MobileCLIPKit, building in ``scratch``, with ``env`` set."""
        if self.root is None:
            return [self.binary, *swift_args[:1], "--package-path", str(PACKAGE),
                    "--scratch-path", str(scratch / "build"), *swift_args[1:]]
        pkg = "/repo/" + PACKAGE.relative_to(REPO).as_posix()
        q = shlex.quote
        repo, into, scr = q(str(REPO)), q(f"{self.root}/repo"), q(f"{self.root}/scratch")
        mounts = f"&& mount --bind {repo} {into} && mount -o remount,bind,ro {into} && mount --bind {q(str(scratch))} {scr}"
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        rest = " ".join(q(a) for a in swift_args[1:])
        inner = (f"env -i HOME=/root PATH=/usr/bin:/bin {assigns} "
                 f"swift {q(swift_args[0])} --package-path {pkg} --scratch-path /scratch/build {rest}")
        return _in_root(self.root, inner, mounts)


def _build_chroot(dest: Path) -> str | None:
    """debootstrap Debian 13 + swiftlang into a fresh folder, renamed onto ``dest`` only when complete."""
    if not shutil.which("debootstrap"):
        why = apt_install("debootstrap")
        if why or not shutil.which("debootstrap"):
            return f"debootstrap not available: {why or 'not on PATH after install'}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=dest.name + ".partial-", dir=dest.parent))
    try:
        print(f"[swift] debootstrap Debian 13 into {work} (once; about 1 minute)", file=sys.stderr)
        r = _run(["debootstrap", "--variant=minbase", "trixie", str(work), MIRROR])
        if r.returncode != 0:
            return "debootstrap trixie failed: " + _last_line(r)
        shutil.copyfile("/etc/resolv.conf", work / "etc" / "resolv.conf")
        r = _run(_in_root(work, "apt-get install -y --no-install-recommends " + " ".join(CHROOT_PACKAGES)))
        if r.returncode != 0:
            return "apt-get install swiftlang in the Debian 13 root failed: " + _last_line(r)
        (work / "repo").mkdir()
        (work / "scratch").mkdir()
        (work / READY).write_text(" ".join(CHROOT_PACKAGES) + "\n")
        if not (dest / READY).exists():  # else another run finished first: keep its root, drop ours
            if dest.exists():
                shutil.rmtree(dest)  # an unfinished root from an interrupted run (no READY mark)
            work.rename(dest)
        return None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def find_swift() -> Swift | str:
    """A toolchain, installing one where this machine allows; else the reason there is none."""
    if shutil.which("swift"):
        return Swift("swift on PATH", binary=shutil.which("swift"))
    major = debian_major()
    if major is None:
        return "no swift toolchain on PATH and not a Debian system (run `swift test` on a Mac)"
    if os.geteuid() != 0:
        return f"no swift on PATH; Debian {major}: installing swiftlang needs root"
    if major == "13":
        why = apt_install(*CHROOT_PACKAGES)
        if why or not shutil.which("swift"):
            return why or "no swift on PATH after apt-get install swiftlang"
        return Swift("Debian 13 swiftlang", binary=shutil.which("swift"))
    if not shutil.which("unshare") or not shutil.which("chroot"):
        return f"Debian {major}: no unshare/chroot to run a Debian 13 swiftlang"
    root = chroot_dir()
    if not (root / READY).exists():
        why = _build_chroot(root)
        if why:
            return why
    return Swift(f"Debian 13 swiftlang in {root} (chroot, Debian {major} host)", root=root)


def main(argv: list[str]) -> int:
    """``swift_toolchain.py``: the Swift tests; ``swift_toolchain.py bench [dim]``: the search benchmark."""
    if argv[:1] not in ([], ["bench"]):
        print("usage: python tests/swift_toolchain.py [bench [dim]]", file=sys.stderr)
        return 2
    swift = find_swift()
    if isinstance(swift, str):
        print(f"error: {swift}", file=sys.stderr)
        return 2
    print(f"[swift] {swift.how}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mobileclip-swift-") as scratch:
        cmd = swift.bench_argv(Path(scratch), *argv[1:]) if argv else swift.test_argv(Path(scratch), {})
        return subprocess.run(cmd).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
