"""ICU conformance of the Android core's regular expressions (``pytest -k icu``).

Android's ``java.util.regex.Pattern`` hands the pattern string to ICU4C; the JUnit suite runs on the desktop JVM,
whose regex engine is a different one (it accepts flags Android rejects, and its ``\\w \\d \\s \\b`` are ASCII where
ICU's are Unicode). This test runs the exact pattern strings of ``com.mobileclipkd.core.Patterns`` (and ftfy's quote
patterns the core reads from ``text_cleanup.json``) under three engines on the same inputs and requires the same
pieces from each:

- ICU4C's regex (Debian ``python3-icu``, driven through ``/usr/bin/python3``; installed with apt-get when missing
  and possible, else the test skips with the reason);
- the desktop JVM (the core's ``PatternPieces`` tool);
- Python: the regex each pattern replicates (open_clip's pre-tokenizer, ftfy's, ``html``'s).

Inputs: the golden captions, the 4,000 Flickr8k-subset captions, every German/French/Czech line of Multi30k (all
splits) and probe strings for the characters where the engines are known to differ (every White_Space and
``str.isspace`` character, digits of other scripts, U+017F and U+0345, ANSI escapes, HTML entities). The
pre-tokenizer gets Python's cleaned text (what it sees in the tokenizer); the clean-up patterns get the raw lines.
A control case (the old ``\\s`` spelling) shows the probes tell the engines apart.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apps.test_android_core import GOLDEN, apt_install, core_classes, junit_classpath  # noqa: F401 (fixtures)

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-icu is built for the system interpreter
MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")
CONTROL = "control_ascii_shorthand"
CONTROL_REGEX = r"[^\s\p{L}\p{N}]+"  # the pre-tokenizer's old class: ASCII \s on the JVM, Unicode in ICU

ICU_RUNNER = r"""
import json, sys
import icu
spec = json.load(open(sys.argv[1], encoding="utf-8"))
out = []
for case in spec["cases"]:
    pattern = icu.RegexPattern.compile(case["regex"], 0)
    rows = []
    for text in case["texts"]:
        m = pattern.matcher(text)
        pieces = []
        while m.find():
            pieces.append(str(m.group()))
        rows.append(pieces)
    out.append(rows)
json.dump({"icu": icu.ICU_VERSION, "unicode": icu.UNICODE_VERSION, "pieces": out}, open(sys.argv[2], "w"))
"""

WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
               *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x200B, 0xFEFF, 0x180E]
PROBES = [
    *(f"a{chr(c)}b.{chr(c)}1{chr(c)}!" for c in WHITE_SPACE),
    "a\u0345b \u03b1\u0345 \u0345", "it'\u017f <\u017ftart_of_text> it's <start_of_text>x<end_of_text>",
    "digits \u0661\u0662\u0663 \u096a\u096b 12\u00b3 \u00bd \u216b \uff11\uff12 \U0001d7ce",
    "\x1b[1;31mred\x1b[0m \x1b[\u0661\u0662m \x1b[\uff11m \x1b[;;Hx",
    "&amp; &#233; &#x41; &#X1F600; &notit; &eacute &amp &#0; &#xD800; &lt;b&gt; &#1114112;",
    "caf\u00e9 cafe\u0301 na\u00efve \u00c5ngstr\u00f6m \u212b \u2126 \u212a \u0130stanbul",
    "emoji \U0001f600\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f",
    "\u4e00\u4e2a\u732b \u3053\u3093\u306b\u3061\u306f \ud55c\uad6d\uc5b4 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea",
    "snake_case under_score don't can't we'll i'd y'all o'neill 'quoted' \u2018curly\u2019 \u201cdouble\u201d \u02bcx",
    "tab\tnew\nline\r\nform\fvt\x0bnel\x85 labels,one\ntwo,,three",
    "\u0915\u094d\u0937 \u0e01\u0e34\u0e19 \u1100\u1161 \u00df\u1e9e \ufb01 \u2167 \u00b2 x\u0332",
]


def _system_icu() -> str | None:
    """None when /usr/bin/python3 imports PyICU (after apt-get install python3-icu if needed), else why not."""
    def has_icu() -> bool:
        return Path(SYSTEM_PYTHON).is_file() and subprocess.run(
            [SYSTEM_PYTHON, "-c", "import icu"], capture_output=True, timeout=60).returncode == 0

    if has_icu():
        return None
    why = apt_install("python3-icu")
    return None if has_icu() else f"ICU4C for {SYSTEM_PYTHON} unavailable ({why or 'python3-icu gave none'})"


def _corpora() -> dict[str, list[str]]:
    import csv

    from tests.support.data import shared_member

    golden = [c["text"] for c in json.loads((GOLDEN / "captions.json").read_text(encoding="utf-8"))["cases"]]
    with open(shared_member("flickr8k_subset.tar.gz", "flickr8k_subset/captions.csv"), newline="",
              encoding="utf-8") as f:
        flickr = [row["caption"] for row in csv.DictReader(f)]
    out = {"golden": golden, "flickr8k": flickr, "probes": PROBES}
    for lang in ("de", "fr", "cs"):
        out[f"multi30k.{lang}"] = [line for split in MULTI30K_SPLITS for line in shared_member(
            "multi30k.tar.gz", f"multi30k/{split}.{lang}").read_text(encoding="utf-8").splitlines()]
    return out


def _python_reference() -> dict[str, object]:
    """Python's compiled regexes the Java patterns replicate (pieces = group 0 of each match)."""
    import html
    import re

    import ftfy.chardata
    import ftfy.fixes

    from mobileclip import get_tokenizer

    return {"pre_tokenizer": get_tokenizer()._tok.pat, "ansi": ftfy.fixes.ANSI_RE,
            "ftfy_entity": ftfy.chardata.HTML_ENTITY_RE, "py_charref": html._charref,
            "label_separator": re.compile(r"[,\n]"),  # ZeroShotActivity's label list (no Python counterpart)
            "ftfy_single_quotes": ftfy.chardata.SINGLE_QUOTE_RE, "ftfy_double_quotes": ftfy.chardata.DOUBLE_QUOTE_RE}


def _cases(java_patterns: dict[str, str]) -> list[dict]:
    from mobileclip.models.tokenizer import _open_clip_tokenizer_module

    clean = _open_clip_tokenizer_module()._clean_lower
    tables = json.loads((GOLDEN / "tokenizer" / "text_cleanup.json").read_text(encoding="utf-8"))
    regexes = dict(java_patterns, ftfy_single_quotes=tables["ftfy_single_quotes"],
                   ftfy_double_quotes=tables["ftfy_double_quotes"])
    cases = []
    for corpus, lines in _corpora().items():
        cleaned = [clean(t) for t in lines] + ([t.lower() for t in lines] if corpus == "probes" else [])
        for name, regex in regexes.items():
            cases.append({"name": name, "corpus": corpus, "regex": regex,
                          "texts": cleaned if name == "pre_tokenizer" else lines})
    cases.append({"name": CONTROL, "corpus": "probes", "regex": CONTROL_REGEX, "texts": PROBES})
    return cases


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{cmd[0]} failed:\n{r.stdout[-3000:]}{r.stderr[-5000:]}"


def test_icu_java_python_same_pieces(core_classes, junit_classpath, tmp_path):
    """Every core pattern cuts the same pieces under ICU4C, the desktop JVM and Python on all caption sets."""
    why = _system_icu()
    if why:
        pytest.skip(why)
    java = ["java", "-Dfile.encoding=UTF-8", "-cp", f"{core_classes}:{junit_classpath}",
            "com.mobileclipkd.core.PatternPieces"]
    _run([*java, "--dump", str(tmp_path / "patterns.json")])
    java_patterns = json.loads((tmp_path / "patterns.json").read_text(encoding="utf-8"))
    cases = _cases(java_patterns)
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps({"cases": cases}, ensure_ascii=False), encoding="utf-8")
    _run([*java, str(spec), str(tmp_path / "java.json")])
    (tmp_path / "icu_runner.py").write_text(ICU_RUNNER)
    _run([SYSTEM_PYTHON, str(tmp_path / "icu_runner.py"), str(spec), str(tmp_path / "icu.json")])
    java_out = json.loads((tmp_path / "java.json").read_text(encoding="utf-8"))
    icu_out = json.loads((tmp_path / "icu.json").read_text(encoding="utf-8"))
    python = _python_reference()

    failures, control_differs, counts = [], 0, {}
    for case, jv, ic in zip(cases, java_out, icu_out["pieces"], strict=True):
        ref = python.get(case["name"])
        for text, j, i in zip(case["texts"], jv, ic, strict=True):
            if case["name"] == CONTROL:
                control_differs += j != i
                continue
            p = [m.group(0) for m in ref.finditer(text)]
            counts[case["corpus"]] = counts.get(case["corpus"], 0) + 1
            if not (j == i == p) and len(failures) < 20:
                failures.append(f"{case['name']} on {case['corpus']} {text!r}:\n  icu {i}\n  jvm {j}\n  py  {p}")
    print(f"ICU {icu_out['icu']} (Unicode {icu_out['unicode']}); texts x patterns compared: {counts}")
    assert not failures, "engines cut different pieces (first 20):\n" + "\n".join(failures)
    assert set(java_patterns) <= set(python), "a Patterns constant has no Python reference in this test"
    assert counts["flickr8k"] >= 4000 * len(python) and all(counts[f"multi30k.{k}"] > 30000 for k in ("de", "fr", "cs"))
    assert control_differs > 0, "the probes no longer tell ICU's \\s from the JVM's: the test would not bite"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
