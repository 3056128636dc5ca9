"""The hand-written Android stubs (android_demo/tools/stubs/android, used to type-check the app here) cannot
drift from the real API: every class, constructor, method and constant they declare must exist with the same
parameter types in the API 36 signatures of PyPI's ``chaquopy-stubs-android`` (generated from android.jar)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STUBS = REPO / "android_demo" / "tools" / "stubs" / "android"
PRIMITIVES = {"int": "java.jint", "long": "java.jlong", "boolean": "java.jboolean", "float": "java.jfloat",
              "double": "java.jdouble", "byte": "java.jbyte", "char": "java.jchar", "short": "java.jshort"}
ARRAYS = {"int[]": "JavaArrayJInt", "float[]": "JavaArrayJFloat", "long[]": "JavaArrayJLong", "byte[]": "JavaArrayJByte",
          "String[]": "JavaArray[java.lang.String]"}


def pyi_root() -> Path:
    import site

    for base in site.getsitepackages():
        if (Path(base) / "android-stubs").is_dir():
            return Path(base) / "android-stubs"
    pytest.skip("chaquopy-stubs-android not installed (pip install chaquopy-stubs-android)")


def java_members(path: Path):
    """(class path like 'Bitmap.Config', kind, name, [param types]) for each public member of a stub file."""
    stack, depth, out = [], 0, []
    for line in path.read_text().splitlines():
        code = line.split("//")[0]
        m = re.search(r"\b(?:class|interface|enum)\s+(\w+)", code)
        if m and "public" in code:
            stack.append((m[1], depth))
            out.append((".".join(n for n, _ in stack), "class", m[1], []))
            if "enum" in code:
                body = code[code.index("{") + 1:code.rindex("}")] if "}" in code else ""
                out += [(".".join(n for n, _ in stack), "field", c.strip(), []) for c in body.split(",") if c.strip()]
        else:
            owner = ".".join(n for n, _ in stack)
            f = re.match(r"\s*public\s+static\s+final\s+[\w.<>\[\]]+\s+(\w+)\s*=", code)
            meth = re.match(r"\s*public\s+(?:static\s+|final\s+|abstract\s+|<[^>]+>\s+)*(?:[\w.<>\[\]?]+\s+)?(\w+)\s*\(([^)]*)\)", code)
            if f:
                out.append((owner, "field", f[1], []))
            elif meth:
                params = [re.sub(r"\s+\w+$", "", p.strip()).replace("...", "[]") for p in meth[2].split(",") if p.strip()]
                name = "__init__" if meth[1] == stack[-1][0] else meth[1]
                out.append((owner, "method", name, params))
        depth += code.count("{") - code.count("}")
        while stack and depth <= stack[-1][1]:
            stack.pop()
    return out


def class_block(text: str, dotted: str) -> str | None:
    """The text of class ``A.B`` in a .pyi module (nested classes are indented inside their owner)."""
    for level, name in enumerate(dotted.split(".")):
        ind = "    " * level
        m = re.search(rf"^{ind}class {name}\b[^\n]*:\n", text, re.M)
        if not m:
            return None
        end = re.search(rf"^(?!{ind}\s)(?=\S|{ind}\S)", text[m.end():], re.M) if level == 0 else \
            re.search(rf"^{ind}(?=\S)", text[m.end():], re.M)
        text = text[m.end():m.end() + end.start()] if end else text[m.end():]
    return text


def type_ok(java: str, pyi: str) -> bool:
    java = java.split("<")[0]
    if re.fullmatch(r"[A-Z]", java):  # a type variable
        return True
    if pyi.lstrip().startswith("*"):  # Java varargs
        return java.endswith("[]") and type_ok(java[:-2], pyi.lstrip("* "))
    if java == "Class":
        return "typing.Type[" in pyi
    if java in PRIMITIVES:
        return PRIMITIVES[java] in pyi
    if java in ARRAYS:
        return ARRAYS[java] in pyi
    if java.endswith("[]"):
        return "JavaArray" in pyi
    return re.search(rf"(^|[\s.\[|]){re.escape(java.split('.')[-1])}\b", pyi) is not None


def find_class(root: Path, module: tuple[str, ...], dotted: str) -> tuple[str, list[str], tuple] | None:
    """(block, base names, module) of class ``dotted`` in android-stubs/<module>/__init__.pyi."""
    pyi = root.joinpath(*module, "__init__.pyi")
    text = pyi.read_text() if pyi.is_file() else ""
    block = class_block(text, dotted)
    if block is None:
        return None
    name = dotted.split(".")[-1]
    header = re.search(rf"^\s*class {name}\((.*)\):", text, re.M)
    for h in re.finditer(rf"^\s*class {name}\((.*)\):", text, re.M):  # the header whose block we took
        if text[h.end():].lstrip("\n").startswith(block.lstrip("\n")[:200]):
            header = h
    bases = [b.strip() for b in re.split(r",\s*(?![^\[]*\])", header[1])] if header else []
    return block, bases, module


def resolve_base(root: Path, module: tuple, base: str):
    base = base.split("[")[0]
    if base.startswith("android."):
        parts = base.split(".")[1:]
        for cut in range(len(parts) - 1, 0, -1):
            if root.joinpath(*parts[:cut], "__init__.pyi").is_file():
                return find_class(root, tuple(parts[:cut]), ".".join(parts[cut:]))
        return None
    if base.startswith("java.") or base.startswith("typing."):
        return None
    return find_class(root, module, base)


def has_member(root: Path, found, kind: str, name: str, params: list[str], depth: int = 0) -> bool:
    block, bases, module = found
    name = {"from": "from_"}.get(name, name)
    if kind == "field":
        ok = re.search(rf"^\s+{name}\s*:", block, re.M) is not None
    else:
        overloads = re.findall(rf"^\s+def {name}\((?:self|cls)?,?\s*(.*?)\)\s*->", block, re.M)
        ok = any(len(args) == len(params) and all(type_ok(j, a) for j, a in zip(params, args))
                 for args in ([a for a in re.split(r",\s*(?![^\[]*\])", o) if a.strip() not in ("", "/")]
                              for o in overloads))
    if ok or depth > 8:
        return ok
    return any(has_member(root, b, kind, name, params, depth + 1)
               for b in (resolve_base(root, module, base) for base in bases) if b)


def test_stubs_match_real_android_signatures():
    root = pyi_root()
    problems, checked = [], 0
    for stub in sorted(STUBS.rglob("*.java")):
        if stub.name == "R.java":  # android.R is generated resource ids, listed by aapt2 (test_android_core)
            continue
        package = stub.parent.relative_to(STUBS.parent)
        for owner, kind, name, params in java_members(stub):
            found = find_class(root, package.parts[1:], owner)
            if found is None:
                problems.append(f"{package}.{owner}: no such class in API 36")
                continue
            checked += 1
            if kind != "class" and not has_member(root, found, kind, name, params):
                problems.append(f"{package}.{owner}: {kind} {name}({', '.join(params)}) not in API 36")
    assert checked > 80, f"only {checked} stub members checked"
    assert not problems, "stubs drifted from the real Android API:\n" + "\n".join(problems)
