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


def test_decoding_is_planned_and_applies_exif_orientation():
    """One decode rule (core DecodePlan, from the header, before any pixels); orientation through AndroidX
    ExifInterface, which reads HEIC/HEIF, WebP and PNG too (the core's reader is JPEG only)."""
    bitmaps = _src("Bitmaps.java")
    by_size = _method(bitmaps, "static Bitmap decode(ContentResolver resolver, Uri uri, int imageSize)")
    assert "DecodePlan.of(" in by_size
    decode = _method(bitmaps, "static Bitmap decode(ContentResolver resolver, Uri uri, DecodePlan plan)")
    assert "inSampleSize = plan.sampleSize" in decode and "oriented(bmp, orientation(resolver, uri))" in decode
    assert "new ExifInterface(" in _method(bitmaps, "static int orientation(")
    assert "ExifOrientation.read(" not in bitmaps, "the core's EXIF reader handles JPEG only"
    for name in ("ZeroShotActivity.java", "SearchActivity.java", "Libraries.java"):
        assert "inSampleSize" not in _src(name), f"{name} decodes outside the planned Bitmaps path"
    gradle = (MAIN.parents[1] / "build.gradle").read_text()
    assert "libs.androidx.exifinterface" in gradle


def test_workers_survive_errors():
    """ExceptionInInitializerError (a runtime's native library) and OutOfMemoryError are Errors: a worker's
    catch (Exception) misses them and the screen hangs. Every catch of Exception in the screens takes Error too."""
    for name in ("MainActivity.java", "ZeroShotActivity.java", "SearchActivity.java"):
        src = _src(name)
        assert not re.search(r"catch \((?:[\w.]+\s*\|\s*)*Exception e\)", src), f"{name}: catch (Exception) misses Errors"
        assert "Exception | Error e" in src, name


def test_android14_selected_photos_permission():
    root = ET.parse(MAIN / "AndroidManifest.xml").getroot()
    perms = {p.get(A + "name") for p in root.findall("uses-permission")}
    assert "android.permission.READ_MEDIA_VISUAL_USER_SELECTED" in perms, "Android 14 partial access needs it"
    search = _src("SearchActivity.java")
    assert "Manifest.permission.READ_MEDIA_VISUAL_USER_SELECTED" in _method(search, "private static String[] galleryPermissions(")
    assert "R.string.select_more" not in search and "R.id.select_more" in search  # the "Select more photos" flow


def test_camera_capture_survives_recreation():
    zero = _src("ZeroShotActivity.java")
    assert "putString(STATE_CAPTURE" in _method(zero, "protected void onSaveInstanceState(")
    assert "getString(STATE_CAPTURE)" in _method(zero, "protected void onCreate(")


def test_search_screen_uses_the_core_index():
    """No in-memory list capped at 300 photos rebuilt on every visit, no hit resolved by list position, no
    query waiting behind the index loop, no orphaned loop after Back/rotation."""
    search = _src("SearchActivity.java")
    assert "MAX_GALLERY" not in search and "thumbs.get(h.index)" not in search
    assert "new PhotoIndexer(" in search and "new PhotoIndexStore(" in search and "thumbs.get(h.id)" in search
    assert "queryWorker.execute" in _method(search, "private void search(")
    assert "cancelIndexing()" in _method(search, "protected void onDestroy(")
    assert "ix.cancel()" not in search and "running.cancel()" in _method(search, "private void cancelIndexing(")
    session = _src("ClipSession.java")
    assert "EncoderSession.open(" in session and "runtime.call(" in session
