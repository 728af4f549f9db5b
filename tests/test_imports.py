"""Every module of smolprep imports on its own, whatever was imported before it (no circular-import error),
and no module imports a private (`_name`) name from another module."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import smolprep

SRC = Path(smolprep.__file__).parent
CHECK = """
import importlib, random, sys
names = sys.argv[1:]
def fresh():
    for name in [m for m in sys.modules if m == "smolprep" or m.startswith("smolprep.")]:
        del sys.modules[name]
failed = []
for name in names:  # each module imported first, into an interpreter without any smolprep module
    fresh()
    try:
        importlib.import_module(name)
    except Exception as err:
        failed.append(f"{name} first: {type(err).__name__}: {err}")
for seed in range(3):  # then all of them, in three shuffled orders
    fresh()
    order = list(names)
    random.Random(seed).shuffle(order)
    for name in order:
        try:
            importlib.import_module(name)
        except Exception as err:
            failed.append(f"order {seed}, {name}: {type(err).__name__}: {err}")
            break
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(SRC)], "smolprep.") if "shipped" not in m.name)


def test_every_module_imports_first_and_in_any_order() -> None:
    modules = _modules()
    assert len(modules) > 50 and "smolprep.cli" in modules and "smolprep.pipelines.steps" in modules
    result = subprocess.run(
        [sys.executable, "-c", CHECK, *modules], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_a_private_name_of_another() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                private = [
                    a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")
                ]
                if node.module.startswith("smolprep") and private:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} from {node.module} import {private}")
    assert found == []


def _module_name(path: Path) -> str:
    parts = ["smolprep", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, modules: set[str]) -> list[str]:
    """The smolprep modules an import statement names (`from a import b` names a.b when b is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
        named = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
        return named or [node.module]
    return []


def test_the_import_graph_has_no_cycle_even_through_imports_inside_functions() -> None:
    """An import deferred into a function still ties the two modules together: no module may reach itself
    through the modules it imports, at the top or inside a function."""
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    edges = {
        name: {m for node in ast.walk(ast.parse(path.read_text())) for m in _imported(node, set(paths))}
        - {name}
        for name, path in paths.items()
    }
    assert "smolprep.launching" in edges["smolprep.commands.launch"]  # the graph is read
    cycles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_a_local_worker_re_importing_launch_py_imports_no_smolprep_module() -> None:
    """Local workers import the launcher script as `__mp_main__`: it must not pull in the command line."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'smolprep'))"
    )
    launcher = SRC.parents[1] / "launch.py"
    result = subprocess.run([sys.executable, "-c", probe, str(launcher)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
