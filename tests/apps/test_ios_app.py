"""iOS defects a phone developer would flag, checked on the Swift sources (no Xcode here; see ios_demo/README.md):
bounded memory for photos, one decode size, a compiled-model cache in Caches with a per-load temporary path,
the photo index and the shared encoder session wired into the screens, the limited-library picker, iCloud
photos, the device family, and the shared EXIF policy. Syntax of every file is checked by test_ios_demo.py
(tree-sitter); the logic itself is tested by `swift test` (test_swift_package.py)."""
from __future__ import annotations

import plistlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ios_demo" / "App"
KIT = REPO / "ios_demo" / "MobileCLIPKit" / "Sources" / "MobileCLIPKit"


def _swift(path: Path) -> str:
    return re.sub(r"//[^\n]*", "", path.read_text())


def _app() -> dict[str, str]:
    return {p.name: _swift(p) for p in APP.glob("*.swift")}


def test_coreml_models_compiled_once_into_caches_with_a_per_load_temporary():
    sources = {p.name: _swift(p) for p in KIT.glob("*.swift")}
    calls = [(n, m) for n, s in sources.items() for m in re.finditer(r"(\btry\s+(?:await\s+)?)?MLModel\.compileModel\(at:", s)]
    assert calls, "no compile step"
    assert all("await" in (m[1] or "") for _, m in calls), "the synchronous compileModel(at:) is deprecated"
    cache = sources["CompiledModelCache.swift"]
    assert ".cachesDirectory" in cache and ".applicationSupportDirectory" not in cache, "a regenerable cache: Caches"
    assert "moveItem" in cache and "UUID()" in cache, "each load moves through its own temporary name"
    assert 'appendingPathExtension("part")' not in cache, "one shared .part path for two loads"
    assert "func prune(" in cache and "CompiledModelCache.prune(" in _app()["DemoModel.swift"]
    assert "CompiledModelCache.compiled(" in sources["CoreMLEncoder.swift"]


def test_one_decode_size_everywhere():
    """The decode size is DecodePlan's (short side 2x the model input), never doubled again by a caller."""
    plan = _swift(KIT / "DecodePlan.swift")
    assert re.search(r"func shortSide\(imageSize: Int\) -> Int \{ 2 \* imageSize \}", plan)
    decoder = _swift(KIT / "PhotoDecoder.swift")
    assert "CGImageSourceCreateThumbnailAtIndex" in decoder and "kCGImageSourceThumbnailMaxPixelSize" in decoder
    assert "DecodePlan.size(" in decoder and "2 *" not in decoder and "ExifOrientation.apply" in decoder
    app = _app()
    assert all("decodeShortSide" not in s and "2 *" not in s for s in app.values()), "a second doubling"
    zero = app["ZeroShotView.swift"]
    assert "PhotoDecoder.pixels(data: data, imageSize:" in zero, "the picked photo is decoded by ImageIO at the plan"
    assert "modelPixels(imageSize:" in zero, "the camera photo goes through the same plan"
    assert "DecodePlan.size(" in app["DemoModel.swift"]


def test_library_index_is_the_shared_core():
    app = _app()
    search, library = app["SearchView.swift"], app["LibraryIndex.swift"]
    assert "PhotoIndexer(" in library and "PhotoIndexStore(" in library, "incremental, saved index"
    assert "fetchLimit" not in library + search, "no 300-photo cap"
    assert "thumbs[" not in search and "hit.index" not in search, "results are resolved by photo id"
    assert "Thumbnail(id: hit.id" in search
    assert re.search(r'Button\("Cancel"', search) and "index.cancel()" in search and "index.progress" in search
    assert "snap.search(" in search, "a search runs on one snapshot"
    assert "isNetworkAccessAllowed = true" in library and "isNetworkAccessAllowed = false" not in library + search
    assert "progressHandler" in library, "iCloud download progress"
    assert "presentLimitedLibraryPicker(" in library and "status == .limited" in library
    with open(APP / "Info.plist", "rb") as f:
        assert plistlib.load(f)["PHPhotoLibraryPreventAutomaticLimitedAccessAlert"] is True


def test_screens_share_one_encoder_session():
    app = _app()
    model = app["DemoModel.swift"]
    assert "EncoderSession(runtime:" in model and "await old?.close()" in model
    assert "DispatchQueue" not in model, "inference runs on the EncoderSession's queue only"
    for name in ("SearchView.swift", "ZeroShotView.swift"):
        assert "session.run {" in app[name] and "model.run(" not in app[name], name


def test_iphone_only_or_every_ipad_orientation():
    import yaml

    spec = yaml.safe_load((APP / "project.yml").read_text())
    family = str(spec["targets"]["MobileCLIPDemo"]["settings"]["base"]["TARGETED_DEVICE_FAMILY"])
    with open(APP / "Info.plist", "rb") as f:
        info = plistlib.load(f)
    ipad = info.get("UISupportedInterfaceOrientations~ipad", [])
    assert family == "1" or len(ipad) == 4, "an iPad app with portrait only fails App Store validation"


def test_one_exif_policy_on_ios():
    model = _swift(APP / "DemoModel.swift")
    assert "ExifOrientation.apply" in model and "UIGraphicsImageRenderer" not in model
