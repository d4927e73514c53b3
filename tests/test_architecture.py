"""The package's shape, checked from its source: layers, import graph, module size.

Every ``import`` statement counts, including the ones inside functions (a lazy import is
still a dependency). The rules:

* ``liqrisk.core`` imports only numpy, pandas, numba and the standard library, plus
  ``liqrisk.errors``, ``liqrisk.config``, ``liqrisk._util`` and itself: it runs without a bot.
* Only ``liqrisk.adapter`` and the tools/cli layers may import freqtrade.
* No import circle between liqrisk modules.
* No module over ``MAX_LINES`` lines.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "liqrisk"
MAX_LINES = 420
#: Third-party packages the core may import.
CORE_THIRD_PARTY = {"numpy", "pandas", "numba"}
#: liqrisk modules the core may import besides ``liqrisk.core.*``.
CORE_LIQRISK = {"liqrisk.errors", "liqrisk.config", "liqrisk._util"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


_ALL: set[str] = set()


def _imports(path: Path, name: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:  # "from pkg import submodule" depends on the submodule, not on pkg
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in _ALL else base)
    return out


MODULES = _modules()
_ALL.update(MODULES)
GRAPH = {name: {m for m in _imports(path, name) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_the_walk_sees_the_package():
    # Guards the test itself: an empty graph would make every rule below pass.
    assert {"liqrisk.core.features", "liqrisk.adapter.mixin", "liqrisk.tools.sim.writer"} <= set(MODULES)
    assert "liqrisk.core.align" in GRAPH["liqrisk.core.features"]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("liqrisk.core")))
def test_core_imports_no_bot_and_no_tool(name):
    bad = []
    for m in _imports(MODULES[name], name):
        top = m.split(".")[0]
        if top == "liqrisk":
            if not (m.startswith("liqrisk.core") or m in CORE_LIQRISK or m == "liqrisk"):
                bad.append(m)
        elif top not in CORE_THIRD_PARTY and top not in sys.stdlib_module_names and top != "__future__":
            bad.append(m)
    assert not bad, f"{name} imports {sorted(bad)}; the core is numpy / pandas / numba only"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_freqtrade_only_outside_the_core(name):
    if name.startswith(("liqrisk.adapter", "liqrisk.tools", "liqrisk.cli")):
        return
    ft = {m for m in _imports(MODULES[name], name) if m.split(".")[0] in ("freqtrade", "ccxt")}
    assert not ft, f"{name} imports {sorted(ft)}"


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(GRAPH):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_circle():
    cycle = _cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_planted_circle():
    saved = {k: set(v) for k, v in GRAPH.items()}
    try:
        GRAPH["liqrisk.core.align"].add("liqrisk.core.features")
        assert _cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines; split it by idea (limit {MAX_LINES})"


def test_every_package_folder_is_a_regular_package():
    # setuptools' find_packages skips folders without __init__.py: an installed (not
    # editable) liqrisk would silently lack them.
    missing = [str(d.relative_to(PACKAGE.parent)) for d in PACKAGE.rglob("*")
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert not missing, f"folders without __init__.py: {missing}"
