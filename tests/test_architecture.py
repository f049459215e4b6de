"""The floors of docs/architecture.md, enforced: every import of src/frivolous
(function-level ones included) points downward or sideways as the table
allows, no two packages import each other, and every subpackage is
importable by its dotted name beside the functions ``fv.measure`` and
``fv.compress``."""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import frivolous as fv

SOURCE = Path(fv.__file__).parent

BASE = {"common"}
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "measuring": BASE,
    "zoo": BASE,
    "data": BASE,
    "runs": BASE | {"zoo", "data"},
    "train": BASE | {"measuring", "zoo", "data", "runs"},
    "sources": BASE | {"measuring", "zoo", "data", "runs"},
    "compression": BASE | {"measuring", "zoo", "data", "runs", "sources"},
    "experiments": BASE | {"measuring", "zoo", "data", "runs", "train", "compression"},
    "results": BASE | {"measuring", "zoo", "data", "runs", "experiments"},
    "plots": BASE | {"measuring", "zoo", "data", "runs", "experiments", "results"},
    "analysis": BASE | {"measuring", "zoo", "data", "runs", "sources", "compression", "results", "plots"},
    "sweeping": BASE | {"measuring", "zoo", "data", "runs", "train", "experiments", "results"},
    "reproduce": BASE | {"measuring", "zoo", "data", "runs", "train", "experiments", "results", "plots", "sweeping"},
}
"""What each floor may import (docs/architecture.md); the door (cli, demo, the package itself) may import anything."""
DOOR = {"cli", "demo", "constructions", "__init__", "__main__"}


def floor(module: str) -> str:
    """The floor of a dotted module name: its subpackage, or the top-level module."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def imports() -> dict[str, set[tuple[str, str]]]:
    """Floor -> the (floor imported, "file:line") of every frivolous import in it."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in SOURCE.rglob("*.py"):
        relative = path.relative_to(SOURCE.parent).with_suffix("")
        module = ".".join(relative.parts)
        source = floor(module) if path.parent != SOURCE else path.stem
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("frivolous"):
                if node.module == "frivolous":
                    targets = [f"frivolous.{alias.name}" for alias in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("frivolous.")]
            for target in targets:
                found[source].add((floor(target), f"{relative}.py:{node.lineno}"))
    return found


def test_every_import_points_down_the_floors() -> None:
    wrong = []
    for source, targets in imports().items():
        if source in DOOR:
            continue
        assert source in ALLOWED, f"{source} is on no floor of docs/architecture.md: add it there and here"
        wrong += [
            f"{where}: {source} imports {target}"
            for target, where in targets
            if target != source and target not in ALLOWED[source]
        ]
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(sorted(wrong))


def test_no_two_packages_import_each_other() -> None:
    edges = {source: {t for t, _ in targets if t != source} for source, targets in imports().items()}
    cycles = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if a in edges.get(b, ())})
    assert not cycles


def test_the_floors_table_has_no_cycle_itself() -> None:
    """The allowed arrows form a DAG, so obeying them rules out longer cycles too."""
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"cycle in the floors: {' -> '.join((*path, name))}"
        if name not in done:
            for target in ALLOWED.get(name, set()):
                visit(target, (*path, name))
            done.add(name)

    for name in ALLOWED:
        visit(name, ())


def test_subpackages_import_by_their_dotted_names_beside_the_functions() -> None:
    graph = importlib.import_module("frivolous.measuring.graph")
    import frivolous.compression.folding as folding
    import frivolous.measuring.graph as by_dotted_name

    assert by_dotted_name is graph and hasattr(folding, "fold")
    assert callable(fv.measure) and callable(fv.compress) and callable(fv.similarity)
    assert fv.measure.__module__ == "frivolous.measuring.api" and fv.compress.__module__ == "frivolous.compression.api"


def test_module_names_say_what_they_hold() -> None:
    """No file name repeats across packages, but ``__init__`` and ``api`` (a package's public functions)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path in SOURCE.rglob("*.py"):
        seen[path.name].append(str(path.relative_to(SOURCE)))
    repeated = {name: paths for name, paths in seen.items() if len(paths) > 1 and name not in ("__init__.py", "api.py")}
    assert not repeated
