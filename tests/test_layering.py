"""The apps stand in the layers written in docs/development.md ("Layers"): an app imports only apps below
it, so no two apps import each other (issue 13, item 8). The graph is read from the source with `ast`:
imports at module level and inside functions count; imports under `if TYPE_CHECKING:`, tests and
management commands do not (the doc says why)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.apps import apps as django_apps

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "tessera"
DOC = ROOT / "docs" / "development.md"

#: Modules above every app: they compose the apps and nothing in an app imports them.
PROJECT_MODULES = {"api", "urls", "settings", "unfold_conf", "wsgi", "__main__"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, "tessera.ledger.services"
    target: str  # the imported module, "tessera.members.models"
    line: int

    @property
    def app(self) -> str:
        return self.module.split(".")[1]

    @property
    def target_app(self) -> str:
        return self.target.split(".")[1]


def layers() -> dict[str, int]:
    """App → layer number, from the numbered list of the doc's "Layers" section."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    order = re.findall(r"^\d+\. `(\w+)`", section, flags=re.MULTILINE)
    assert len(order) == len(set(order)), f"an app listed twice in the doc's layers: {order}"
    return {app: i for i, app in enumerate(order)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, name: str) -> str:
    """`from tessera.sales import stored_value` imports the module tessera.sales.stored_value."""
    candidate = SRC.parent.joinpath(*module.split("."), name)
    if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
        return f"{module}.{name}"
    return module


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Every `tessera.*` module imported, at any depth, except under `if TYPE_CHECKING:`."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names if a.name.startswith("tessera."))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "tessera"
        ):
            found.extend((_resolve(str(node.module), a.name), node.lineno) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _counted(path: Path) -> bool:
    parts = path.relative_to(SRC).parts
    return len(parts) > 1 and "tests" not in parts and parts[1:3] != ("management", "commands")


@cache
def cross_app_imports() -> tuple[Import, ...]:
    """Imports from one app's module into another app or the project level."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if not _counted(path):
            continue
        module = _module_name(path)
        for target, line in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if target.count(".") == 0 or target.split(".")[1] == module.split(".")[1]:
                continue
            found.append(Import(module, target, line))
    return tuple(found)


def _upward(imp: Import, layer: dict[str, int]) -> bool:
    if imp.target_app in PROJECT_MODULES:
        return True
    return layer.get(imp.target_app, -1) > layer.get(imp.app, -1)


def test_every_app_stands_in_one_layer_of_the_doc():
    layer = layers()
    installed = [c.name.split(".")[1] for c in django_apps.get_app_configs() if c.name.startswith("tessera.")]
    packages = {p.parent.name for p in SRC.glob("*/apps.py")}
    assert set(installed) == packages, "an app package not installed, or the reverse"
    assert set(packages) - set(layer) == set(), "apps missing from docs/development.md, Layers"
    assert set(layer) - set(packages) == set(), "no such apps, in docs/development.md, Layers"


def test_no_app_imports_an_app_above_it():
    layer = layers()
    upward = [
        f"{i.module} (line {i.line}) imports {i.target}: {i.app} is layer {layer.get(i.app)}, "
        f"{i.target_app} is {layer.get(i.target_app, 'above every app')}"
        for i in cross_app_imports()
        if _upward(i, layer)
    ]
    assert upward == [], "upward imports (see docs/development.md, Layers):\n" + "\n".join(upward)


def test_the_apps_import_each_other_in_no_cycle():
    """The app graph has no loop (the order alone implies it for a strict order; this names the loop
    when the order test fails)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for i in cross_app_imports():
        if i.target_app not in PROJECT_MODULES:
            graph[i.app].add(i.target_app)
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def loop_from(app: str, path: list[str]) -> list[str] | None:
        state[app] = 1
        for nxt in sorted(graph[app]):
            if state.get(nxt) == 1:
                trail = [*path, app]
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := loop_from(nxt, [*path, app])):
                return found
        state[app] = 2
        return None

    loop = next((found for app in sorted(graph) if app not in state and (found := loop_from(app, []))), None)
    assert loop is None, f"apps importing each other: {' → '.join(loop)}"


def test_the_graph_reads_function_level_imports_and_skips_type_checking():
    """The reader itself: an import hidden in a function counts, one for type hints does not."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tessera.sales.models import Transaction\n"
        "def f():\n    from tessera.reports import aggregates\n    import tessera.tiers.models\n"
    )
    assert [name for name, _line in _imports(tree)] == ["tessera.reports.aggregates", "tessera.tiers.models"]
