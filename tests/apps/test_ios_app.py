"""iOS defects a phone developer would flag, checked on the Swift sources (no Xcode here; see ios_demo/README.md):
bounded memory for photos and the library grid, a permanent compiled-model cache with the async compile API,
and the shared EXIF policy. Syntax of every file is checked by test_ios_demo.py (tree-sitter)."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ios_demo" / "App"
KIT = REPO / "ios_demo" / "MobileCLIPKit" / "Sources" / "MobileCLIPKit"


def _swift(path: Path) -> str:
    return re.sub(r"//[^\n]*", "", path.read_text())


def test_coreml_models_compiled_once_into_a_permanent_folder():
    sources = {p.name: _swift(p) for p in KIT.glob("*.swift")}
    calls = [(n, m) for n, s in sources.items() for m in re.finditer(r"(\btry\s+(?:await\s+)?)?MLModel\.compileModel\(at:", s)]
    assert calls, "no compile step"
    assert all("await" in (m[1] or "") for _, m in calls), "the synchronous compileModel(at:) is deprecated"
    cache = sources["CompiledModelCache.swift"]
    assert ".applicationSupportDirectory" in cache and "moveItem" in cache, "compiled models must be moved to a permanent folder"
    assert "CompiledModelCache.compiled(" in sources["CoreMLEncoder.swift"]


def test_photos_are_downsampled_at_decode():
    decoder = _swift(KIT / "PhotoDecoder.swift")
    assert "CGImageSourceCreateThumbnailAtIndex" in decoder and "kCGImageSourceThumbnailMaxPixelSize" in decoder
    assert "ExifOrientation.apply" in decoder
    zero = _swift(APP / "ZeroShotView.swift")
    assert "PhotoDecoder.pixels(" in zero, "the picked photo must be decoded downsampled (ImageIO)"
    assert "photo.rgbPixels()" not in zero, "no full-resolution pure-Swift resize of the picked photo"


def test_library_index_keeps_bounded_memory():
    search = _swift(APP / "SearchView.swift")
    assert "896" not in search, "library photos requested at 896 px and all kept: ~1 GB for 300 photos"
    assert "autoreleasepool" in search and "isSynchronous = true" in search, "one photo at a time"
    assert "downsampled(shortSide: thumb)" in search, "only small thumbnails are kept"
    side = int(re.search(r"thumbSide\s*=\s*(\d+)", search)[1])
    assert side * side * 4 * 300 < 64e6


def test_one_exif_policy_on_ios():
    model = _swift(APP / "DemoModel.swift")
    assert "ExifOrientation.apply" in model and "UIGraphicsImageRenderer" not in model
