"""The built-in plugins use only what a third-party plugin can: labrun's public API.

A plugin may import `labrun` itself and the names in `labrun.__all__`, its own package, the
standard library and the distributions labrun declares as dependencies. Anything else,
above all `labrun.<submodule>`, ties it to host internals that may change under it.
"""

import ast
import importlib.metadata
import re
import sys
from functools import cache
from pathlib import Path

import pytest

import labrun

PLUGINS = Path(__file__).parents[2] / "plugins"
SOURCES = sorted(PLUGINS.glob("labrun_*/**/*.py"))


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


@cache
def declared_dependencies() -> frozenset[str]:
    """The distributions labrun requires, not counting optional extras."""
    requirements = importlib.metadata.requires("labrun") or []
    names = (
        re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        for requirement in requirements
        if "extra ==" not in requirement
    )
    return frozenset(_normalise(name.group()) for name in names if name)


def allowed_module(module: str, package: str) -> bool:
    """Whether a plugin in `package` may import the top-level module `module`."""
    if module == package or module in sys.stdlib_module_names:
        return True
    distributions = importlib.metadata.packages_distributions().get(module, [])
    return any(_normalise(d) in declared_dependencies() for d in distributions)


def forbidden_imports(source: str, package: str) -> list[str]:
    """Each import in `source` that a plugin named `package` may not make, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "labrun":
                private = [a.name for a in node.names if a.name not in labrun.__all__]
                found += [f"line {node.lineno}: from labrun import {name}" for name in private]
                continue
            modules = [node.module]
        else:
            continue  # relative imports stay inside the plugin's own package
        for module in modules:
            top = module.partition(".")[0]
            if top == "labrun" and module != "labrun":
                found.append(f"line {node.lineno}: {module} is internal to labrun")
            elif top != "labrun" and not allowed_module(top, package):
                found.append(f"line {node.lineno}: {module} is not a declared dependency")
    return found


def test_the_built_in_plugins_are_found() -> None:
    packages = {path.relative_to(PLUGINS).parts[0] for path in SOURCES}
    assert {"labrun_timer", "labrun_prompt"} <= packages


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_a_built_in_plugin_imports_only_the_public_api(path: Path) -> None:
    package = path.relative_to(PLUGINS).parts[0]
    assert forbidden_imports(path.read_text(), package) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from labrun.step import StepRunner", "line 1: labrun.step is internal to labrun"),
        ("import labrun.step", "line 1: labrun.step is internal to labrun"),
        ("import os, labrun.event", "line 1: labrun.event is internal to labrun"),
        (
            "from labrun.cli._command import CommandError",
            "line 1: labrun.cli._command is internal to labrun",
        ),
        ("from labrun import step", "line 1: from labrun import step"),
        ("from labrun import Plugin, _json", "line 1: from labrun import _json"),
        (
            "if True:\n    from labrun.testing import run_process",
            "line 2: labrun.testing is internal to labrun",
        ),
        ("import requests", "line 1: requests is not a declared dependency"),
        ("from labrun_prompt import plugin", "line 1: labrun_prompt is not a declared dependency"),
        ("import pytest", "line 1: pytest is not a declared dependency"),
    ],
)
def test_a_forbidden_import_is_reported(source: str, problem: str) -> None:
    assert forbidden_imports(source, "labrun_timer") == [problem]


@pytest.mark.parametrize(
    "source",
    [
        "import labrun",
        "from labrun import Plugin, ProcessContext, Time",
        "import asyncio, math",
        "from __future__ import annotations",
        "from typing import Any",
        "from pydantic import BaseModel",
        "import pint",
        "import yaml",
        "from typing_extensions import TypedDict",
        "from labrun_timer.wait import plugin",
        "from .wait import plugin",
    ],
)
def test_an_allowed_import_is_not_reported(source: str) -> None:
    assert forbidden_imports(source, "labrun_timer") == []


def test_adding_a_host_import_to_a_plugin_is_caught() -> None:
    path = PLUGINS / "labrun_timer" / "wait.py"
    tampered = path.read_text() + "\nfrom labrun.step import StepRunner\n"
    assert forbidden_imports(tampered, "labrun_timer") == [
        f"line {len(tampered.splitlines())}: labrun.step is internal to labrun"
    ]
