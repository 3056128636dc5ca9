"""Android app defects a phone developer would flag, checked on the sources (no SDK here; see README).

Manifest: ``<queries>`` for IMAGE_CAPTURE (Android 11+ package visibility) and a FileProvider for
full-resolution captures. Java: model copy and photo decoding run on the worker thread, both runtimes get the
same thread count, decoding applies the EXIF orientation.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "android_demo" / "app" / "src" / "main"
JAVA = MAIN / "java" / "com" / "mobileclipkd" / "demo"
A = "{http://schemas.android.com/apk/res/android}"


def _src(name: str) -> str:
    return re.sub(r"//[^\n]*", "", (JAVA / name).read_text())


def _method(source: str, signature: str) -> str:
    start = source.index(signature)
    i, depth = source.index("{", start), 0
    for j in range(i, len(source)):
        depth += {"{": 1, "}": -1}.get(source[j], 0)
        if depth == 0:
            return source[i:j + 1]
    raise AssertionError(signature)


def _on_worker(body: str, call: str) -> bool:
    """Every ``call`` in ``body`` sits inside a ``worker.execute(...)`` lambda."""
    spans = []
    for m in re.finditer(r"worker\.execute\(", body):
        depth = 0
        for j in range(m.end() - 1, len(body)):
            depth += {"(": 1, ")": -1}.get(body[j], 0)
            if depth == 0:
                spans.append((m.start(), j))
                break
    hits = [m.start() for m in re.finditer(re.escape(call), body)]
    return bool(hits) and all(any(a < h < b for a, b in spans) for h in hits)


def test_manifest_declares_camera_query_and_file_provider():
    root = ET.parse(MAIN / "AndroidManifest.xml").getroot()
    actions = [a.get(A + "name") for a in root.findall("./queries/intent/action")]
    assert "android.media.action.IMAGE_CAPTURE" in actions, "targetSdk >= 30 hides the camera app without <queries>"
    (provider,) = root.findall("./application/provider")
    assert provider.get(A + "name") == "androidx.core.content.FileProvider"
    assert provider.get(A + "exported") == "false" and provider.get(A + "grantUriPermissions") == "true"
    authority = provider.get(A + "authorities")
    meta = provider.find("meta-data")
    assert meta.get(A + "name") == "android.support.FILE_PROVIDER_PATHS"
    paths = ET.parse(MAIN / "res" / "xml" / (meta.get(A + "resource").split("/")[-1] + ".xml")).getroot()
    (cache,) = paths.findall("cache-path")
    zero = _src("ZeroShotActivity.java")
    assert f'"{cache.get("path").strip("/")}"' in zero, "the capture folder differs from file_paths.xml"
    assert authority == "${applicationId}.fileprovider" and 'getPackageName() + ".fileprovider"' in zero
    assert "MediaStore.EXTRA_OUTPUT" in zero, "the capture must be full resolution (EXTRA_OUTPUT)"
    assert 'get("data")' not in zero, "the camera's thumbnail must not be used"


def test_models_and_photos_load_off_the_ui_thread():
    main = _src("MainActivity.java")
    assert _on_worker(_method(main, "protected void onCreate("), "ModelLocator.find("), \
        "bundled models are copied in onCreate on the UI thread"
    zero = _src("ZeroShotActivity.java")
    assert _on_worker(_method(zero, "protected void onActivityResult("), "Bitmaps.decode("), \
        "the picked photo is decoded on the UI thread"


def test_both_runtimes_get_the_same_threads():
    session = _src("ClipSession.java")
    assert re.search(r"new ExecuTorchEncoder\(file, entry, THREADS\)", session)
    assert re.search(r"new LiteRtEncoder\(file, entry, THREADS\)", session)
    assert re.search(r"Module\.load\([^,]+,\s*Module\.LOAD_MODE_MMAP,\s*threads\)", _src("ExecuTorchEncoder.java"))
    assert "options.setNumThreads(threads)" in _src("LiteRtEncoder.java")


def test_decoding_applies_exif_orientation():
    bitmaps = _src("Bitmaps.java")
    decode = _method(bitmaps, "static Bitmap decode(ContentResolver")
    assert "ExifOrientation.read(" in decode and "oriented(" in decode
    assert "inSampleSize" in decode, "large photos must be subsampled at decode"
