"""`swift test` for ios_demo/MobileCLIPKit where a Swift toolchain exists or can be installed.

Debian 13 ("trixie") packages Swift as ``swiftlang``; there (as root) it is installed with apt-get. Elsewhere the
test skips with the reason. Everything is bounded by timeouts so it cannot hang CI. The Core ML parts of the
package sit behind ``#if canImport(CoreML)`` and ImageIO decoding behind ``canImport(ImageIO)``; on Linux the
preprocessing tests read the raw-RGB fixtures (golden/images/*.rgb).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from test_android_core import apt_install

PKG = Path(__file__).resolve().parents[1] / "ios_demo" / "MobileCLIPKit"
SWIFT_TEST_TIMEOUT = 900


def _debian_major() -> str | None:
    try:
        return Path("/etc/debian_version").read_text().strip().split(".")[0]
    except OSError:
        return None


def _swift() -> str:
    if shutil.which("swift"):
        return shutil.which("swift")
    major = _debian_major()
    if major != "13":
        pytest.skip(f"no swift toolchain; Debian {major or '?'} has no swiftlang package (Debian 13 has): "
                    "`swift test` of MobileCLIPKit runs on a Mac or Debian 13")
    why = apt_install("swiftlang")
    if why or not shutil.which("swift"):
        pytest.skip(f"swiftlang could not be installed: {why or 'no swift after install'}")
    return shutil.which("swift")


def test_swift_package_tests(tmp_path):
    swift = _swift()
    r = subprocess.run([swift, "test", "--package-path", str(PKG), "--scratch-path", str(tmp_path / "build")],
                       capture_output=True, text=True, timeout=SWIFT_TEST_TIMEOUT)
    assert r.returncode == 0, "swift test failed:\n" + r.stdout[-8000:] + r.stderr[-4000:]
    assert "error:" not in r.stderr
