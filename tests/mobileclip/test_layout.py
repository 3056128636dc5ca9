"""The package layout holds: project imports point one way, form no circle, and never reach the package face
from inside the package (issue 24). Read from the source with ``ast``, so lazy imports inside functions count.

Floors, lowest first: ``mobileclip.utils`` < ``models`` < ``data`` < ``evaluation`` < ``training`` <
``multilingual`` < the commands (the ``mobileclip/*.py`` modules users run with ``python -m``). ``export`` stands
on utils, models and data only; ``benchmarks`` may use everything. The face ``mobileclip/__init__`` re-exports
models and utils; only code outside the package (export, benchmarks, tests, users) imports it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("mobileclip", "export", "benchmarks")
FLOORS = ("utils", "models", "data", "evaluation", "training", "multilingual")
FACE = "mobileclip"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules(root: Path = REPO) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """Project modules ``name`` imports: ``(target, line, is_face)``. ``from P import x`` targets the module
    ``P.x`` when there is one, else ``P``; ``is_face``: a name taken from the package face ``mobileclip``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, a.name == FACE) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, node.lineno, False) if sub in modules else (target, node.lineno, target == FACE))
    return out


def floor(name: str) -> str:
    """``utils`` ... ``multilingual``, ``commands``, ``face``, ``export`` or ``benchmarks``."""
    parts = name.split(".")
    if parts[0] != "mobileclip":
        return parts[0]
    if len(parts) == 1:
        return "face"
    return parts[1] if parts[1] in FLOORS else "commands"


def allowed(src: str) -> set[str]:
    if src in FLOORS:
        return set(FLOORS[:FLOORS.index(src) + 1])
    return {"face": {"utils", "models"}, "export": {"utils", "models", "data", "export"},
            "commands": set(FLOORS) | {"export"},
            "benchmarks": set(FLOORS) | {"commands", "export", "benchmarks", "face"}}[src]


def violations(root: Path = REPO) -> list[str]:
    modules = source_modules(root)
    problems, graph = [], {m: set() for m in modules}
    for name, path in modules.items():
        inside = name.split(".")[0] == "mobileclip" and name != FACE
        for target, line, is_face in imports_of(name, path, modules):
            where = f"{path.relative_to(root)}:{line}"
            if inside and (is_face or target == FACE):
                problems.append(f"{where}: imports the package face 'mobileclip' from inside the package")
                continue
            if target not in modules:  # an old path a move left behind (``mobileclip.cli``): ImportError at run time
                problems.append(f"{where}: {name} imports {target}, which is no module of the project")
                continue
            src, dst = floor(name), floor(target)
            if dst != "face" and dst not in allowed(src):
                problems.append(f"{where}: {name} ({src}) imports {target} ({dst}), which is not below it")
            if target in graph and target != name:
                graph[name].add(target)
    problems = list(dict.fromkeys(problems))  # one line per import statement, not per imported name
    return problems + missing_names(modules, root) + [f"import circle among: {', '.join(c)}" for c in circles(graph)]


def defined_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at its top level (in if/try/with blocks too); None when it cannot be known
    (a star import or a module ``__getattr__``)."""
    names, body = set(), list(tree.body)
    while body:
        node = body.pop()
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            body += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            body += [x for h in getattr(node, "handlers", []) for x in h.body]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return None if "__getattr__" in names else names


def missing_names(modules: dict[str, Path], root: Path) -> list[str]:
    """``from X import name`` where project module X has no ``name`` (nor a submodule ``X.name``): the
    one-dot slip ``from . import load_checkpoint`` inside a subpackage, found before a run hits it."""
    defined = {m: defined_names(ast.parse(p.read_text(), str(p))) for m, p in modules.items()}
    out = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            have = defined.get(target)
            for a in node.names:
                if have is not None and a.name not in have and f"{target}.{a.name}" not in modules:
                    out.append(f"{path.relative_to(root)}:{node.lineno}: {target} has no {a.name!r}")
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_imports_point_down_without_circles_or_the_face():
    problems = violations()
    assert not problems, "\n".join(problems)


def test_public_faces_resolve_and_are_documented():
    """``mobileclip.__all__`` and ``export.__all__`` are deliberate: every name resolves and is named in
    docs/training_api.md (mobileclip) or docs/export_api.md (export)."""
    import export
    import mobileclip

    for pkg, doc in ((mobileclip, "training_api.md"), (export, "export_api.md")):
        text = (REPO / "docs" / doc).read_text()
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None
            assert f"`{name}`" in text, f"{pkg.__name__}.{name} is not documented in docs/{doc}"


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def oversized(root: Path = REPO) -> list[str]:
    """Modules over 400 lines and functions (methods, nested ones) over 60 lines, ``def`` to last line."""
    out = []
    for name, path in source_modules(root).items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            out.append(f"{path.relative_to(root)}: {len(text.splitlines())} lines (> {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(root)}:{node.lineno}: {node.name}() {n} lines "
                               f"(> {MAX_FUNCTION_LINES})")
    return out


def test_modules_and_functions_stay_small():
    problems = oversized()
    assert not problems, "\n".join(problems)


def test_the_size_check_catches(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    root = _tree(tmp_path, {"export/big.py": "\n" * 401, "benchmarks/f.py": f"def f():\n{body}"})
    problems = oversized(root)
    assert any("export/big.py: 401 lines" in p for p in problems), problems
    assert any("f() 61 lines" in p for p in problems), problems


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize("files, expected", [
    ({"mobileclip/utils/__init__.py": "", "mobileclip/utils/a.py": "def f():\n    from ..models import b\n",
      "mobileclip/models/__init__.py": "", "mobileclip/models/b.py": ""}, "(utils) imports mobileclip.models.b"),
    ({"mobileclip/data/__init__.py": "", "mobileclip/data/a.py": "from mobileclip import create_model\n"},
     "package face"),
    ({"mobileclip/data/__init__.py": "", "mobileclip/data/a.py": "from .. import create_model\n"}, "package face"),
    ({"mobileclip/models/__init__.py": "", "mobileclip/models/a.py": "from . import b\n",
      "mobileclip/models/b.py": "from .a import x\nx = 1\n"}, "import circle among: mobileclip.models.a, mobileclip.models.b"),
    ({"mobileclip/training/__init__.py": "", "mobileclip/training/run.py": "def f():\n    from . import load\n"},
     "mobileclip.training has no 'load'"),
    ({"export/a.py": "from mobileclip.training import loop\n", "mobileclip/training/__init__.py": "",
      "mobileclip/training/loop.py": ""}, "(export) imports mobileclip.training.loop"),
    ({"mobileclip/models/__init__.py": "", "mobileclip/models/a.py": "import export.b\n", "export/b.py": ""},
     "(models) imports export.b"),
])
def test_the_check_catches(tmp_path, files, expected):
    problems = violations(_tree(tmp_path, files))
    assert any(expected in p for p in problems), problems


def test_a_clean_tree_passes(tmp_path):
    files = {"mobileclip/__init__.py": "from .models.a import x\n", "mobileclip/models/__init__.py": "",
             "mobileclip/models/a.py": "from ..utils.b import y\nx = y\n", "mobileclip/utils/__init__.py": "",
             "mobileclip/utils/b.py": "y = 1\n", "mobileclip/train.py": "from .models.a import x\n\n\ndef main():\n    pass\n",
             "export/c.py": "from mobileclip import x\nfrom mobileclip.models.a import x\n",
             "benchmarks/d.py": "from mobileclip.train import main\nimport export.c\n"}
    assert violations(_tree(tmp_path, files)) == []
