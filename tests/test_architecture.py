"""The house's layering, checked on the source: the service never imports the development tools,
no module circle, and the command line imports a command's module only when it runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pumpapi import cli

PACKAGE = Path(__file__).parents[1] / "pumpapi"
#: Packages the service (create_app, the blueprints, the models) must never load.
OFFLINE = ("pumpapi.devtools", "pumpapi.training", "pumpapi.evaluation")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every pumpapi module `path` imports, at module level or inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    # Every module implicitly imports the root package: an edge to it says nothing of layering
    # (create_app registering the command line, which creates the app on demand, is the factory).
    return {module for module in found if module in MODULES and module not in ("pumpapi", name)}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _is_offline(module: str) -> bool:
    return (
        module.startswith(OFFLINE)
        or module.rpartition(".")[2] == "commands"
        or module
        in (
            "pumpapi.cli",
            "pumpapi.__main__",
        )
    )


def test_no_service_module_imports_the_development_tools():
    offenders = {
        module: sorted(m for m in imports if m.startswith("pumpapi.devtools"))
        for module, imports in GRAPH.items()
        if not _is_offline(module)
    }
    assert {module: found for module, found in offenders.items() if found} == {}


def test_no_module_circle():
    """Tarjan's strongly connected components of the import graph: none larger than one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in GRAPH[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert circles == []


def test_the_graph_sees_a_function_level_import():
    """The checks above would pass vacuously if function-level imports were missed."""
    assert "pumpapi.devtools.demo" in GRAPH["pumpapi.devtools.stack"]
    assert "pumpapi.devtools.simulator" in GRAPH["pumpapi.training.keras"]


def test_create_app_loads_no_development_tool_training_or_evaluation():
    code = (
        "import sys\n"
        "from pumpapi import create_app\n"
        "create_app({'MODEL_FAMILIES': []})\n"
        f"print(sorted(m for m in sys.modules if m.startswith({OFFLINE!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_command_line_imports_a_command_only_when_asked():
    code = (
        "import sys\n"
        "import pumpapi.cli\n"
        f"print(sorted(m for m in sys.modules if m.startswith({OFFLINE!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(cli.LAZY))
def test_every_command_is_offered_and_resolves(name):
    context = click.Context(cli.main)
    assert name in cli.main.list_commands(context)
    command = cli.main.get_command(context, name)
    assert isinstance(command, click.Command) and command.name == name


def test_flask_offers_the_same_commands_for_the_app(app):
    context = click.Context(app.cli)
    assert set(cli.LAZY) <= set(app.cli.list_commands(context))
    assert app.cli.get_command(context, "train").name == "train"
