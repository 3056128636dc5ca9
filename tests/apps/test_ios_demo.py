"""ios_demo checks that run without a Swift toolchain (none exists on these Linux machines).

- Every Swift file parses with tree-sitter-swift (no ERROR / MISSING nodes).
- Package.swift declares the MobileCLIPKit library product, its target and the test target, with paths and
  resources that exist; the app's Info.plist is a valid plist with the keys the app needs.
- The golden fixture paths the Swift tests use resolve to the same golden/ folder the Java tests read, and the
  package's bundled text_cleanup.json is the golden one. The clean-up constants the Swift code hard-codes
  (ftfy's quote ranges) still match ftfy.
This is not `swift build` / `swift test`: those need Xcode or a Swift toolchain (see ios_demo/README.md).
"""
from __future__ import annotations

import json
import plistlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IOS = REPO / "ios_demo"
PKG = IOS / "MobileCLIPKit"
APP = IOS / "App"
GOLDEN = REPO / "golden"
SWIFT_FILES = sorted(IOS.rglob("*.swift"))


@pytest.fixture(scope="module")
def parser():
    ts = pytest.importorskip("tree_sitter")
    tss = pytest.importorskip("tree_sitter_swift")
    return ts.Parser(ts.Language(tss.language()))


def syntax_errors(parser, source: bytes) -> list[str]:
    out = []
    stack = [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            out.append(f"line {node.start_point[0] + 1}:{node.start_point[1] + 1}: {kind}")
        stack.extend(node.children)
    return sorted(out)


def test_swift_files_exist():
    names = {p.name for p in SWIFT_FILES}
    for required in ("Package.swift", "ClipTokenizer.swift", "TextCleaner.swift", "PillowResize.swift",
                     "ImagePreprocessor.swift", "Ranking.swift", "Manifest.swift", "CoreMLEncoder.swift",
                     "GoldenTests.swift", "MobileCLIPDemoApp.swift", "ZeroShotView.swift", "SearchView.swift"):
        assert required in names, f"{required} missing from ios_demo"


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda p: str(p.relative_to(IOS)))
def test_swift_syntax(parser, path):
    errors = syntax_errors(parser, path.read_bytes())
    assert not errors, f"{path.relative_to(REPO)}:\n" + "\n".join(errors)


def test_syntax_check_catches_errors(parser):
    assert syntax_errors(parser, b"func f() -> Int { return 1 }") == []
    assert syntax_errors(parser, b"func f( { let x = }")
    assert syntax_errors(parser, b"struct S { var a: Int = ( }")


def _package() -> str:
    return (PKG / "Package.swift").read_text()


def test_package_manifest():
    text = _package()
    version = re.match(r"// swift-tools-version:\s*(\d+)\.(\d+)", text)
    assert version and (int(version[1]), int(version[2])) >= (5, 9), "swift-tools-version 5.9+ expected on line 1"
    assert re.search(r'name:\s*"MobileCLIPKit"', text)
    products = re.findall(r'\.library\(\s*name:\s*"(\w+)",\s*targets:\s*\[([^\]]*)\]', text)
    assert products == [("MobileCLIPKit", '"MobileCLIPKit"')], products
    targets = {name: kind for kind, name in
               re.findall(r'\.(target|testTarget|executableTarget)\(\s*(?://[^\n]*\s*)?name:\s*"([\w-]+)"', text)}
    assert targets == {"MobileCLIPKit": "target", "MobileCLIPKitTests": "testTarget",
                       "mobileclip-search-bench": "executableTarget"}, targets
    assert re.search(r'dependencies:\s*\["MobileCLIPKit"\]', text), "the test target must depend on MobileCLIPKit"
    paths = re.findall(r'path:\s*"([^"]+)"', text)
    assert len(paths) == 3
    for p in paths:
        folder = PKG / p
        assert folder.is_dir() and any(folder.glob("*.swift")), f"target path {p} has no Swift sources"
    # every Swift source belongs to a declared target folder
    for f in PKG.rglob("*.swift"):
        if f.name != "Package.swift":
            assert any(PKG / p in f.parents for p in paths), f"{f} is outside every target"
    for res in re.findall(r'\.(?:copy|process)\("([^"]+)"\)', text):
        assert (PKG / paths[0] / res).exists(), f"resource {res} missing"
    assert re.search(r"\.iOS\(\.v\d+\)", text)  # the value is checked in test_runtime_pins.py


def test_bundled_cleanup_table_is_golden():
    bundled = PKG / "Sources" / "MobileCLIPKit" / "Resources" / "text_cleanup.json"
    assert bundled.read_bytes() == (GOLDEN / "tokenizer" / "text_cleanup.json").read_bytes()
    assert 'forResource: "text_cleanup", withExtension: "json"' in (bundled.parents[1] / "TextCleaner.swift").read_text()


def test_swift_constants_match_ftfy():
    """TextCleaner.swift hard-codes ftfy's curly-quote ranges; they must still be ftfy's."""
    tables = json.loads((GOLDEN / "tokenizer" / "text_cleanup.json").read_text())
    assert tables["ftfy_single_quotes"] == "[\u02bc\u2018-\u201b]"
    assert tables["ftfy_double_quotes"] == "[\u201c-\u201f]"
    swift = (PKG / "Sources" / "MobileCLIPKit" / "TextCleaner.swift").read_text()
    assert "0x02BC" in swift and "0x2018...0x201B" in swift and "0x201C...0x201F" in swift


def test_swift_tests_read_the_shared_golden_fixtures():
    test_file = PKG / "Tests" / "MobileCLIPKitTests" / "GoldenTests.swift"
    source = test_file.read_text()
    rel = re.search(r'appendingPathComponent\("(\.\./[^"]*golden)"\)', source)
    assert rel, "GoldenTests.swift must locate golden/ relative to #filePath"
    assert "#filePath" in source
    assert (test_file.parent / rel[1]).resolve() == GOLDEN.resolve()
    used = set(re.findall(r'"((?:tokenizer/)?[\w]+\.(?:json|txt))"', source))
    assert {"captions.json", "preprocess.json", "ranking.json", "manifest.json", "tokenizer/vocab.json",
            "tokenizer/merges.txt"} <= used, used
    for name in used:
        assert (GOLDEN / name).is_file(), f"golden/{name} (used by the Swift tests) missing"
    # the fixture keys the Swift tests read exist in the fixtures
    pre = json.loads((GOLDEN / "preprocess.json").read_text())
    assert {"preprocess", "tolerance", "cases", "pillow_version"} <= pre.keys()
    assert {"file", "tensor", "name"} <= pre["cases"][0].keys()
    for case in pre["cases"]:
        assert (GOLDEN / case["file"]).is_file()
    rank = json.loads((GOLDEN / "ranking.json").read_text())
    assert {"query", "gallery", "k", "logit_scale", "top_k", "scores", "probabilities"} <= rank["cases"][0].keys()


def test_app_info_plist():
    with open(APP / "Info.plist", "rb") as f:
        info = plistlib.load(f)
    for key in ("CFBundleIdentifier", "CFBundleExecutable", "CFBundleShortVersionString", "CFBundleVersion",
                "NSCameraUsageDescription", "NSPhotoLibraryUsageDescription", "UILaunchScreen"):
        assert key in info, f"Info.plist lacks {key}"
    assert info["CFBundlePackageType"] == "APPL"
    # MinimumOSVersion comes from the deployment target in project.yml (one place; test_runtime_pins.py)
    assert "MinimumOSVersion" not in info
    for key in ("NSCameraUsageDescription", "NSPhotoLibraryUsageDescription"):
        assert len(info[key]) > 20


def test_app_sources_and_project_spec():
    app_swift = {p.name: p.read_text() for p in APP.glob("*.swift")}
    assert sum("@main" in s for s in app_swift.values()) == 1
    assert all("import MobileCLIPKit" in s for n, s in app_swift.items() if n in ("ZeroShotView.swift", "SearchView.swift"))
    assert len(list((APP / "SamplePhotos").glob("*.png"))) >= 4
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load((APP / "project.yml").read_text())
    assert (APP / spec["packages"]["MobileCLIPKit"]["path"] / "Package.swift").is_file()
    target = spec["targets"]["MobileCLIPDemo"]
    assert (APP / target["info"]["path"]).is_file()
    assert target["dependencies"] == [{"package": "MobileCLIPKit"}]


def _scan_like_swift(text: str) -> list[str]:
    """ClipTokenizer.preTokenize (Swift) transcribed line by line: a hand-written scanner for CLIP's regex."""
    import unicodedata

    def letter(c):
        return unicodedata.category(c).startswith("L")

    def number(c):
        return unicodedata.category(c) in ("Nd", "Nl", "No")

    prefixes = ["<start_of_text>", "<end_of_text>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
    long_s, ypogegrammeni = "\u017f", "\u0345"

    def starts(p, i):  # IGNORECASE on lower-case text: a long s matches s
        return len(text) - i >= len(p) and all(a == b or (b == "s" and a == long_s) for a, b in zip(text[i:], p))

    out, i = [], 0
    while i < len(text):
        p = next((p for p in prefixes if starts(p, i)), None)
        if p:
            out.append(text[i:i + len(p)])
            i += len(p)
            continue
        c = text[i]
        if letter(c):
            j = i + 1
            while j < len(text) and letter(text[j]):
                j += 1
            out.append(text[i:j])
            i = j
        elif number(c):
            out.append(c)
            i += 1
        elif c.isspace() or c == ypogegrammeni:
            i += 1
        else:
            j = i + 1
            while (j < len(text) and not letter(text[j]) and not number(text[j]) and not text[j].isspace()
                   and text[j] != ypogegrammeni):
                j += 1
            out.append(text[i:j])
            i = j
    return out


def test_swift_pretokenizer_algorithm_matches_clip_regex(flickr_captions):
    """The Swift tokenizer replaces CLIP's regex by a scanner; the same algorithm (transcribed to Python) must
    split every golden and Flickr caption exactly as open_clip's regex does (an algorithm check, not a Swift run)."""
    import regex

    from mobileclip import get_tokenizer

    tok = get_tokenizer()._tok
    swift = (PKG / "Sources" / "MobileCLIPKit" / "ClipTokenizer.swift").read_text()
    assert '"<start_of_text>", "<end_of_text>"' in swift and '"\'s", "\'t", "\'re", "\'ve", "\'m", "\'ll", "\'d"' in swift
    captions = [c["text"] for c in json.loads((GOLDEN / "captions.json").read_text())["cases"]] + flickr_captions
    for text in captions:
        cleaned = tok.clean_fn(text)
        assert _scan_like_swift(cleaned) == regex.findall(tok.pat, cleaned), text
