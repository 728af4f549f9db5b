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
