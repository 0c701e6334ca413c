"""The target's modules import only downwards, in the layer order target_s3_parquet declares."""

from __future__ import annotations

import ast
from pathlib import Path

import target_s3_parquet
from target_s3_parquet import LAYERS

PACKAGE = Path(target_s3_parquet.__file__).parent
NAME = "target_s3_parquet"


def _imported_modules(path: Path) -> set[str]:
    """The package's modules that `path` imports anywhere (TYPE_CHECKING and local too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from target_s3_parquet import x` may name a module: check both readings
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == NAME and len(parts) > 1 and (PACKAGE / f"{parts[1]}.py").exists():
                found.add(parts[1])
    return found


def _graph() -> dict[str, set[str]]:
    return {
        path.stem: _imported_modules(path) - {path.stem}
        for path in sorted(PACKAGE.glob("*.py"))
        if path.stem != "__init__"
    }


def test_every_module_of_the_target_is_in_exactly_one_layer():
    declared = [module for _, modules in LAYERS for module in modules]
    assert sorted(declared) == sorted(_graph()), "add the new module to LAYERS (__init__.py)"


def test_no_module_imports_one_in_a_layer_above_it():
    level = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}
    name = {index: layer for index, (layer, _) in enumerate(LAYERS)}
    upward = [
        f"{module} ({name[level[module]]}) imports {imported} ({name[level[imported]]})"
        for module, imports in _graph().items()
        for imported in sorted(imports)
        if level[imported] < level[module]
    ]
    assert upward == []


def test_the_modules_import_no_circle():
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, "import circle: " + " -> ".join([*path, module])
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in graph:
        visit(module, [])
