"""The package's layering, from its import graph (every import, at the top of a module or inside
a function): no module imports itself through others, and ptb/report/ is a leaf that only the
command line imports."""

from __future__ import annotations

import ast
from pathlib import Path

PTB = Path(__file__).resolve().parent.parent / "ptb"
MAY_IMPORT_REPORT = {"ptb.cli"}


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every .py under ROOT (a package's name for its __init__.py)."""
    found = {}
    for f in sorted(root.rglob("*.py")):
        parts = f.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return found


def imports(tree: ast.AST, known: dict[str, Path]) -> set[str]:
    """The known modules a module's code imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:  # `from ptb.report import charts` names a module, `from ptb.paths import X` a name
                sub = f"{node.module}.{a.name}"
                found |= {sub} if sub in known else {node.module} & known.keys()
    return found


def graph(root: Path = PTB) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(ast.parse(f.read_text()), known) - {name} for name, f in known.items()}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of G as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = "open"
        path.append(m)
        for n in sorted(g[m]):
            if state.get(n) == "open":
                return path[path.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        path.pop()
        return None

    for m in sorted(g):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle():
    found = cycle(graph())
    assert found is None, "import cycle: " + " -> ".join(found)


def test_report_is_a_leaf():
    g = graph()
    outside = {m: sorted(n for n in deps if n.startswith("ptb.report"))
               for m, deps in g.items() if not m.startswith("ptb.report") and m not in MAY_IMPORT_REPORT}
    assert {m: deps for m, deps in outside.items() if deps} == {}


def test_the_checks_find_what_they_look_for(tmp_path):
    """A cycle closed by an import inside a function, and a stage importing the report, are found."""
    pkg = tmp_path / "ptb"
    for name, text in {"__init__.py": "", "report/__init__.py": "",
                       "report/a.py": "from ptb.report import b\n",
                       "report/b.py": "def f():\n    from ptb.report.a import g\n",
                       "run/__init__.py": "", "run/x.py": "import ptb.report.a\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    g = graph(pkg)
    assert cycle(g) == ["ptb.report.a", "ptb.report.b", "ptb.report.a"]
    assert g["ptb.run.x"] == {"ptb.report.a"}
