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
    """All XCTests, and the Swift conformance buffers (ConformanceTests) equal Python's inputs."""
    import json
    import os

    import numpy as np
    from PIL import Image

    from mobileclip import get_tokenizer, image_transform
    from test_conformance import CAPTIONS, PHOTO

    swift = _swift()
    out = tmp_path / "conformance"
    out.mkdir()
    (out / "captions.txt").write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    env = dict(os.environ, MOBILECLIP_CONFORMANCE_OUT=str(out))
    r = subprocess.run([swift, "test", "--package-path", str(PKG), "--scratch-path", str(tmp_path / "build")],
                       capture_output=True, text=True, timeout=SWIFT_TEST_TIMEOUT, env=env)
    assert r.returncode == 0, "swift test failed:\n" + r.stdout[-8000:] + r.stderr[-4000:]
    assert "error:" not in r.stderr
    pre = json.loads((PKG.parents[1] / "golden" / "preprocess.json").read_text())["preprocess"]
    with Image.open(PHOTO) as im:
        want = image_transform(pre)(im).numpy().ravel()
    np.testing.assert_allclose(np.fromfile(out / "pixels.f32", dtype="<f4"), want, atol=1e-5, rtol=0)
    ids = get_tokenizer()(CAPTIONS).numpy().astype(np.int32).ravel()
    np.testing.assert_array_equal(np.fromfile(out / "ids.i32", dtype="<i4"), ids)
