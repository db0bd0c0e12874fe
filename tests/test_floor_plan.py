"""Issue 22 item 7: the floor plan of the code, read from its imports (lazy ones included).

Each package stands on a floor and imports only from floors below it (and from itself); no import
circle among the project's modules. A new import that runs upward, or closes a circle, fails here
with the file and line that makes it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOORS: dict[str, int] = {
    "domain": 1,  # rules and wire formats, no I/O
    "gepg": 1,
    "infra": 2,  # settings, Temporal connection, codec, egress, logs
    "store": 2,
    "simulators": 2,
    "activities": 3,
    "workflows": 4,  # through activities/interfaces.py only
    "api": 5,
    "payflow": 6,  # the shell: CLI, dev stack, worker wiring
}


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for package in FLOORS:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every project module `name` imports, with the line: `from a.b import c` counts as `a.b.c`
    when c is a module, else as `a.b`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def graph(root: Path) -> dict[str, dict[str, tuple[Path, int]]]:
    """module → {module it imports: (file, line)} over the project's packages."""
    modules = _modules(root)
    edges: dict[str, dict[str, tuple[Path, int]]] = {name: {} for name in modules}
    for name, path in modules.items():
        for target, line in _imports(name, path):
            resolved = _resolve(target, modules)
            if resolved and resolved != name and target.split(".")[0] in FLOORS:
                edges[name].setdefault(resolved, (path, line))
    return edges


def upward(root: Path) -> list[str]:
    """Imports from a floor to a package on the same floor or a higher one."""
    found = []
    for name, targets in graph(root).items():
        here = name.split(".")[0]
        for target, (path, line) in targets.items():
            there = target.split(".")[0]
            if there != here and FLOORS[there] >= FLOORS[here]:
                where = f"{path.relative_to(root)}:{line}: {here} (floor {FLOORS[here]})"
                found.append(f"{where} imports {target} (floor {FLOORS[there]})")
    return found


def circles(root: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    edges = graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_runs_up_a_floor() -> None:
    assert upward(ROOT) == []


def test_no_import_circle() -> None:
    assert circles(ROOT) == []


def test_every_package_has_a_floor() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages <= set(FLOORS), f"give {sorted(packages - set(FLOORS))} a floor in FLOORS"


def test_an_upward_import_and_a_circle_are_found(tmp_path: Path) -> None:
    """The checks themselves: a lazy import from an activity into workflows/, and two modules of
    the shell importing each other, as in payflow's layout before the floor plan."""
    for package in FLOORS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "workflows" / "flow.py").write_text("from activities import interfaces\n")
    (tmp_path / "activities" / "interfaces.py").write_text("")
    (tmp_path / "activities" / "feed.py").write_text("def f():\n    from workflows.flow import X\n")
    (tmp_path / "payflow" / "cli.py").write_text("from payflow import cli_payments\n")
    (tmp_path / "payflow" / "cli_payments.py").write_text("from payflow.cli import exit_hard\n")
    assert upward(tmp_path) == ["activities/feed.py:2: activities (floor 3) imports workflows.flow (floor 4)"]
    assert circles(tmp_path) == [["payflow.cli", "payflow.cli_payments"]]
