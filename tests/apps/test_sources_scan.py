"""Source scan of the phone apps (Android Java and iOS Swift): no regex construct whose meaning differs between the
desktop engines the tests run on and the phone's engine, and no desktop-only Java API in code that ships.

Android's ``java.util.regex`` is ICU4C: it throws on ``UNICODE_CHARACTER_CLASS`` (and ``CANON_EQ``), its ``\\w \\d
\\s \\b`` (and negations) are Unicode where the desktop JVM's are ASCII, and its case-insensitive matching is Unicode
where the JVM's is ASCII. Swift's ``NSRegularExpression`` is ICU too (Linux and iOS), but Swift ``Regex`` literals
are a different engine, so the apps spell every class with Unicode properties on both platforms (see
``com.mobileclipkd.core.Patterns`` and ``MobileCLIPKit.TextPatterns``). Each finding is reported as file:line.
A line that holds such a construct on purpose (a test's negative control, never a pattern the app runs) says so
with the comment ``regex-scan: allow``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANDROID = REPO / "android_demo"
IOS = REPO / "ios_demo"

SHORTHAND = re.compile(r"(?<!\\)(?:\\\\)*\\([wdsbWDSB])")  # an unescaped regex backslash-w/d/s/b in a string value
INLINE_FLAGS = re.compile(r"\(\?[a-zA-Z]*[Uiuc][a-zA-Z]*(?:-[a-zA-Z]*)?[:)]")  # (?U) (?i) (?u) (?c), (?iU: ...
JAVA_FLAGS = re.compile(r"\b(UNICODE_CHARACTER_CLASS|CANON_EQ|CASE_INSENSITIVE|UNICODE_CASE)\b")
SWIFT_OPTIONS = re.compile(r"\b(useUnicodeWordBoundaries|wordBoundaryKind|asciiOnly\w*)\b")
ALLOW = "regex-scan: allow"
DESKTOP_ONLY = re.compile(r"\b(javax\.(imageio|swing|sound|print|naming|management|script|xml\.bind)|java\.awt"
                          r"|java\.lang\.management|java\.rmi|java\.util\.prefs|java\.net\.http|sun\.|com\.sun\.|jdk\.)")


def _java_literals(src: str):
    """(line, value) of every string literal of Java source, comments skipped; value has escapes decoded."""
    i, line, n = 0, 1, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            i = src.find("\n", i)
            i = n if i < 0 else i
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += src.count("\n", i, j)
            i = j
        elif src.startswith('"""', i):
            j = src.find('"""', i + 3)
            yield line, _decode(src[i + 3:j])
            line += src.count("\n", i, j)
            i = j + 3
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            if c == '"':
                yield line, _decode(src[i + 1:j])
            i = j + 1
        else:
            line += c == "\n"
            i += 1


def _swift_literals(src: str):
    """(line, value) of every string and regex literal of Swift source: "..." (escapes decoded), #"..."# and
    #/.../# (raw), comments skipped."""
    token = re.compile(r'//[^\n]*|/\*.*?\*/|(#+)"(.*?)"\1|(#+)/(.*?)/\3|"""(.*?)"""|"((?:\\.|[^"\\\n])*)"', re.S)
    for m in token.finditer(src):
        line = src.count("\n", 0, m.start()) + 1
        if m.group(2) is not None:
            yield line, m.group(2)
        elif m.group(4) is not None:
            yield line, m.group(4)
        elif m.group(5) is not None or m.group(6) is not None:
            yield line, _decode(m.group(5) if m.group(5) is not None else m.group(6))


def _decode(raw: str) -> str:
    """Backslash escapes of a Java/Swift literal: an escaped backslash becomes one backslash, \\uXXXX and \\u{X}
    become their character, any other escape stays (it is not a regex backslash)."""
    def one(m: re.Match) -> str:
        s = m.group(0)
        if s == "\\\\":
            return "\\"
        if s.startswith("\\u"):
            return chr(int(s[2:].strip("{}"), 16))
        return "\u0000"  # \n \t \" ...: a character, never a regex escape
    return re.sub(r"\\u\{[0-9a-fA-F]+\}|\\u[0-9a-fA-F]{4}|\\.", one, raw, flags=re.S)


def _code_only(src: str) -> str:
    """Source with comments and string literals blanked (newlines kept), for API and flag-name scans."""
    return re.sub(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"',
                  lambda m: re.sub(r"[^\n]", " ", m.group(0)), src, flags=re.S)


def java_sources(main_only: bool) -> list[Path]:
    roots = ["main", "androidTest"] if main_only else ["main", "androidTest", "test"]
    return sorted(p for r in roots for p in ANDROID.glob(f"*/src/{r}/**/*.java"))


def swift_sources() -> list[Path]:
    return sorted(p for p in IOS.rglob("*.swift") if ".build" not in p.parts)


def regex_findings(path: Path, swift: bool, root: Path = REPO) -> list[str]:
    src = path.read_text(encoding="utf-8")
    rel = path.relative_to(root)
    out = []
    for line, value in (_swift_literals(src) if swift else _java_literals(src)):
        for m in SHORTHAND.finditer(value):
            out.append(f"{rel}:{line}: shorthand class \\{m.group(1)} (ASCII on the JVM, Unicode in ICU): "
                       "spell it with \\p{...}")
        for m in INLINE_FLAGS.finditer(value):
            out.append(f"{rel}:{line}: inline flag {m.group(0)} (Android/ICU and the JVM differ)")
    code = _code_only(src)
    for m in (SWIFT_OPTIONS if swift else JAVA_FLAGS).finditer(code):
        out.append(f"{rel}:{code.count(chr(10), 0, m.start()) + 1}: {m.group(1)} (rejected by or different on "
                   "the phone's regex engine)")
    lines = src.splitlines()
    return [f for f in out if ALLOW not in lines[int(f.split(":", 2)[1]) - 1]]


def test_scan_finds_each_construct(tmp_path):
    """The scanner reports every construct it is meant to catch, with file:line (negative control)."""
    bad_java = tmp_path / "Bad.java"
    bad_java.write_text('class Bad {\n  // "\\\\s" in a comment is fine\n  P a = Pattern.compile("\\\\s+",\n'
                        '      Pattern.UNICODE_CHARACTER_CLASS);\n  String b = "(?U)x\\\\W\\\\\\\\d", ok = "\\\\\\\\s\\n";\n'
                        '  P c = Pattern.compile("x", Pattern.CANON_EQ);\n  String d = """\n  \\\\b""";\n}\n')
    bad_swift = tmp_path / "Bad.swift"
    bad_swift.write_text('let a = "\\\\d+"\nlet b = #"\\s\\p{L}"#\n/* "\\\\w" */ let ok = "\\\\\\\\w \\n"\n'
                         'let r = #/\\bword/#\nlet o: NSRegularExpression.Options = [.useUnicodeWordBoundaries]\n'
                         'let control = "\\\\s"  // regex-scan: allow\n')
    java = [f.split(": ", 1)[0].split(":")[-1] + f.split(": ", 1)[1][:12] for f in regex_findings(bad_java, False, tmp_path)]
    swift = [f.split(": ", 1)[0].split(":")[-1] + f.split(": ", 1)[1][:12] for f in regex_findings(bad_swift, True, tmp_path)]
    assert sorted(java) == sorted(["3shorthand cl", "4UNICODE_CHAR", "5shorthand cl", "5inline flag ",
                                   "6CANON_EQ (re", "7shorthand cl"]), java
    assert sorted(swift) == sorted(["1shorthand cl", "2shorthand cl", "4shorthand cl", "5useUnicodeWo"]), swift


def test_java_regexes_are_portable():
    files = java_sources(main_only=False)
    assert any(p.name == "Patterns.java" for p in files), "expected the core's Patterns class"
    findings = [f for p in files for f in regex_findings(p, swift=False)]
    assert not findings, "non-portable regex constructs:\n" + "\n".join(findings)


def test_swift_regexes_are_portable():
    files = swift_sources()
    if not files:
        pytest.skip("no Swift sources under ios_demo/")
    findings = [f for p in files for f in regex_findings(p, swift=True)]
    assert not findings, "non-portable regex constructs:\n" + "\n".join(findings)


def test_no_desktop_only_java_api_in_shipped_code():
    """Code that runs on the phone (core and app main sources, instrumented tests) uses no desktop-only API."""
    findings = []
    for p in java_sources(main_only=True):
        code = _code_only(p.read_text(encoding="utf-8"))
        for m in DESKTOP_ONLY.finditer(code):
            findings.append(f"{p.relative_to(REPO)}:{code.count(chr(10), 0, m.start()) + 1}: {m.group(1)} "
                            "is not part of Android")
    assert not findings, "desktop-only APIs in phone code:\n" + "\n".join(findings)


def test_core_uses_only_java8_library_api(tmp_path):
    """The core's main sources compile against the Java 8 class library (``javac --release 8``): Java 9+ methods
    such as ``InputStream.readAllBytes`` or ``List.of`` need Android API 30-33, above the app's minSdk 26."""
    if not shutil.which("javac"):
        pytest.skip("javac not found (install a JDK 17, e.g. Debian's openjdk-17-jdk-headless)")
    sources = sorted(str(p) for p in (ANDROID / "core" / "src" / "main").rglob("*.java"))
    r = subprocess.run(["javac", "--release", "8", "-encoding", "UTF-8", "-d", str(tmp_path), *sources],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "the core uses an API newer than Java 8:\n" + r.stdout + r.stderr
