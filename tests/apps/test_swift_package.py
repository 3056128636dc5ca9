"""`swift test` for ios_demo/MobileCLIPKit where a Swift toolchain exists or can be installed.

Where the toolchain comes from (swift on PATH; Debian 13's ``swiftlang``; on Debian 12, a Debian 13 root made with
debootstrap and entered with chroot) is tests/support/swift_toolchain.py; with none, the test skips with the reason. Everything is bounded by timeouts so it cannot hang CI. The Core ML parts of the
package sit behind ``#if canImport(CoreML)`` and ImageIO decoding behind ``canImport(ImageIO)``; on Linux the
preprocessing tests read the raw-RGB fixtures (golden/images/*.rgb).
"""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.support.swift_toolchain import REPO, find_swift

SWIFT_TEST_TIMEOUT = 900


def test_swift_package_tests(tmp_path):
    """All XCTests, and the Swift conformance buffers (ConformanceTests) equal Python's inputs."""
    from mobileclip import get_tokenizer, image_transform
    from tests.export.test_conformance import CAPTIONS, PHOTO

    swift = find_swift()
    if isinstance(swift, str):
        pytest.skip(f"no Swift toolchain: {swift}")
    out = tmp_path / "conformance"
    out.mkdir()
    (out / "captions.txt").write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    seen = {"MOBILECLIP_CONFORMANCE_OUT": swift.seen_path(tmp_path, "conformance")}
    r = subprocess.run(swift.test_argv(tmp_path, seen), capture_output=True, text=True,
                       timeout=SWIFT_TEST_TIMEOUT, env=dict(os.environ, **seen))
    assert r.returncode == 0, f"swift test failed ({swift.how}):\n" + r.stdout[-8000:] + r.stderr[-4000:]
    assert "error:" not in r.stdout + r.stderr
    assert "Test Suite 'All tests' passed" in r.stdout + r.stderr, r.stdout[-4000:]
    pre = json.loads((REPO / "golden" / "preprocess.json").read_text())["preprocess"]
    with Image.open(PHOTO) as im:
        want = image_transform(pre)(im).numpy().ravel()
    np.testing.assert_allclose(np.fromfile(out / "pixels.f32", dtype="<f4"), want, atol=1e-5, rtol=0)
    ids = get_tokenizer()(CAPTIONS).numpy().astype(np.int32).ravel()
    np.testing.assert_array_equal(np.fromfile(out / "ids.i32", dtype="<i4"), ids)
