"""The package's layers: every import goes down (or sideways within a layer), and no import cycle.

The layers, lowest first: ``backends`` (array libraries), ``numerics`` (the
arithmetic), ``engines`` (evaluating a formula), ``kernels`` (the public
kernels), ``optim`` (the optimizer), ``adapters`` (the torch and optax
optimizers over it), then the tools built on them. Read from
the source (imports inside functions included), so the rule holds whatever is
imported lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "proxadagrad_ref"
LAYERS = {"backends": 0, "numerics": 1, "engines": 2, "kernels": 3, "optim": 4, "adapters": 5}
TOOLS = 6  # vectors, testing, explain, cli, schedules, torch, optax, __init__, __main__: above every layer


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _rank(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOOLS) if len(parts) > 1 else TOOLS


def _imports(path: Path, nodes: list[ast.stmt] | None = None) -> list[tuple[str, int]]:
    """Package modules imported by `path` (absolute names, line), in `nodes` (default: the whole file)."""
    me = _module(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in (n for top in (nodes if nodes is not None else [tree]) for n in ast.walk(top)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if target.startswith("proxadagrad_ref"):
                names = [f"{target}.{a.name}" for a in node.names]
                subs = [n for n in names if _exists(n)]
                found += [(name, node.lineno) for name in subs or [target]]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("proxadagrad_ref")]
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent / module.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_imports_go_down(path: Path) -> None:
    me = _module(path)
    for target, line in _imports(path):
        assert _rank(target) <= _rank(me), f"{me}:{line} imports {target}, a higher layer"


def test_no_import_cycles() -> None:
    """No cycle among the modules' imports at module level (what runs when a module is imported)."""
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        body = ast.parse(path.read_text(encoding="utf-8")).body
        top = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
        me = _module(path)
        graph[me] = {target for target, _ in _imports(path, top) if target != me}

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            raise AssertionError(f"import cycle: {' -> '.join([*stack[stack.index(node):], node])}")
        if node in done:
            return
        for nxt in graph.get(node, ()):
            if nxt.startswith(node + "."):  # a package importing its own submodules
                continue
            visit(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for node in graph:
        visit(node, [], done)
