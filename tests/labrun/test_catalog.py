"""Discovering plugins: each broken one becomes a diagnostic and the others still load.

Entry points here are real `importlib.metadata.EntryPoint` objects naming modules put in
`sys.modules` for the test; `tests/labrun/cli/test_plugins.py` installs real packages.
"""

import sys
import types
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from labrun import LoadDiagnostic, Plugin, PluginCatalog, ProcessContext, load_plugins
from labrun.catalog import GROUP


class Args(BaseModel):
    count: int = 1


async def process(data: Args, context: ProcessContext[Args]) -> None:
    pass


def blocking(data: Args, context: ProcessContext[Args]) -> None:
    pass


async def unannotated(data, context: ProcessContext[Any]) -> None:  # type: ignore[no-untyped-def]
    pass


def plugin_with(namespace: str, *names: str) -> Plugin:
    plugin = Plugin(namespace)
    for name in names:
        plugin.process(name)(process)
    return plugin


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Put a module holding the given attributes in sys.modules; returns its name."""
    count = 0

    def make(**attributes: Any) -> str:
        nonlocal count
        count += 1
        name = f"labrun_test_catalog_module_{count}"
        made = types.ModuleType(name)
        for key, value in attributes.items():
            setattr(made, key, value)
        monkeypatch.setitem(sys.modules, name, made)
        return name

    return make


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_plugins_load_by_namespace(module: Callable[..., str]) -> None:
    lab = plugin_with("lab", "mix", "heat")
    pumps = plugin_with("pumps", "dispense")
    name = module(lab=lab, pumps=pumps)

    catalog = load_plugins([entry("pumps", f"{name}:pumps"), entry("lab", f"{name}:lab")])

    assert catalog.diagnostics == ()
    assert dict(catalog.plugins) == {"lab": lab, "pumps": pumps}
    assert [spec.qualified_name for spec in catalog.processes()] == [
        "lab.heat",
        "lab.mix",
        "pumps.dispense",
    ]
    assert catalog.process("lab.mix") is lab.processes["mix"]


@pytest.mark.parametrize("name", ["lab.stir", "nowhere.mix", "lab", "", "lab.mix.more"])
def test_an_unknown_process_is_none(name: str) -> None:
    assert PluginCatalog.of(plugin_with("lab", "mix")).process(name) is None


def test_a_module_that_is_missing_is_reported(module: Callable[..., str]) -> None:
    good = module(plugin=plugin_with("lab", "mix"))

    catalog = load_plugins(
        [entry("gone", "labrun_no_such_module:plugin"), entry("lab", f"{good}:plugin")]
    )

    assert catalog.diagnostics == (
        LoadDiagnostic(
            "gone",
            "failed to import labrun_no_such_module:plugin: "
            "ModuleNotFoundError: No module named 'labrun_no_such_module'",
        ),
    )
    assert list(catalog.plugins) == ["lab"]


def test_a_module_that_raises_on_import_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: Callable[..., str]
) -> None:
    (tmp_path / "labrun_test_raises.py").write_text("raise RuntimeError('no driver')\n")
    monkeypatch.syspath_prepend(tmp_path)
    good = module(plugin=plugin_with("lab", "mix"))

    catalog = load_plugins(
        [entry("raises", "labrun_test_raises:plugin"), entry("lab", f"{good}:plugin")]
    )

    assert [str(d) for d in catalog.diagnostics] == [
        "raises: failed to import labrun_test_raises:plugin: RuntimeError: no driver"
    ]
    assert list(catalog.plugins) == ["lab"]


def test_a_missing_attribute_is_reported(module: Callable[..., str]) -> None:
    name = module()
    catalog = load_plugins([entry("lab", f"{name}:plugin")])
    assert catalog.diagnostics == (
        LoadDiagnostic(
            "lab",
            f"failed to import {name}:plugin: AttributeError: "
            f"module '{name}' has no attribute 'plugin'",
        ),
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (lambda: Plugin("lab"), "function"),
        (Plugin, "type"),
        ("lab", "str"),
        (None, "NoneType"),
    ],
)
def test_an_entry_point_to_something_else_than_a_plugin_is_reported(
    module: Callable[..., str], value: Any, kind: str
) -> None:
    name = module(thing=value)
    catalog = load_plugins([entry("lab", f"{name}:thing")])
    assert catalog.diagnostics == (
        LoadDiagnostic("lab", f"{name}:thing is a {kind}, not a labrun Plugin"),
    )
    assert catalog.plugins == {}


def test_a_plugin_with_declaration_problems_is_left_out_with_each_problem(
    module: Callable[..., str],
) -> None:
    bad = Plugin("bad")
    bad.process("blocking")(blocking)
    bad.process("unannotated")(unannotated)
    bad.process("fine")(process)
    bad.process("fine")(process)
    name = module(bad=bad, lab=plugin_with("lab", "mix"))

    catalog = load_plugins([entry("bad", f"{name}:bad"), entry("lab", f"{name}:lab")])

    assert [str(d) for d in catalog.diagnostics] == [
        "bad: process 'blocking': blocking is not an async function (declare it with async def)",
        "bad: process 'unannotated': the argument 'data' of unannotated has no annotation",
        "bad: process 'fine': duplicate process name 'fine'",
    ]
    assert list(catalog.plugins) == ["lab"]


def test_a_namespace_taken_twice_keeps_the_first_entry_point_by_name(
    module: Callable[..., str],
) -> None:
    first = plugin_with("lab", "mix")
    second = plugin_with("lab", "heat")
    name = module(first=first, second=second)

    catalog = load_plugins([entry("b_second", f"{name}:second"), entry("a_first", f"{name}:first")])

    assert catalog.plugins == {"lab": first}
    assert catalog.diagnostics == (
        LoadDiagnostic("b_second", "namespace 'lab' is already used by another plugin"),
    )


def test_without_arguments_the_installed_entry_points_are_read() -> None:
    catalog = load_plugins()
    assert {"timer", "prompt"} <= set(catalog.plugins)
    assert catalog.process("timer.wait") is not None
    assert catalog.process("prompt.ask") is not None


# PluginCatalog.of: the same checks for plugins built in code.


def test_catalog_of_plugins() -> None:
    lab = plugin_with("lab", "mix")
    pumps = plugin_with("pumps", "dispense")
    catalog = PluginCatalog.of(pumps, lab)
    assert catalog.plugins == {"lab": lab, "pumps": pumps}
    assert catalog.diagnostics == ()


def test_catalog_of_reports_an_invalid_namespace_without_a_process_prefix() -> None:
    catalog = PluginCatalog.of(Plugin("Bad-Lab"))
    assert [str(d) for d in catalog.diagnostics] == [
        "Bad-Lab: invalid namespace 'Bad-Lab': use lowercase letters, digits and _"
    ]
    assert catalog.plugins == {}


async def one_parameter(data: Args) -> None:
    pass


class NotAModel:
    pass


async def not_a_model(data: NotAModel, context: ProcessContext[Any]) -> None:
    pass


@pytest.mark.parametrize(
    ("name", "function", "message"),
    [
        (
            "Mix",
            process,
            "lab: process 'Mix': invalid process name 'Mix': use lowercase letters, digits and _",
        ),
        (
            "blocking",
            blocking,
            "lab: process 'blocking': "
            "blocking is not an async function (declare it with async def)",
        ),
        (
            "one",
            one_parameter,
            "lab: process 'one': one_parameter must take exactly (data, context)",
        ),
        (
            "unannotated",
            unannotated,
            "lab: process 'unannotated': the argument 'data' of unannotated has no annotation",
        ),
        (
            "not_a_model",
            not_a_model,
            "lab: process 'not_a_model': "
            "the argument 'data' of not_a_model must be annotated with a pydantic model",
        ),
    ],
)
def test_catalog_of_reports_each_declaration_problem(
    name: str, function: Any, message: str
) -> None:
    bad = Plugin("lab")
    bad.process(name)(function)
    catalog = PluginCatalog.of(bad, plugin_with("other", "mix"))
    assert [str(d) for d in catalog.diagnostics] == [message]
    assert list(catalog.plugins) == ["other"]


def test_catalog_of_reports_a_duplicate_process() -> None:
    catalog = PluginCatalog.of(plugin_with("lab", "mix", "mix"))
    assert [str(d) for d in catalog.diagnostics] == [
        "lab: process 'mix': duplicate process name 'mix'"
    ]


def test_catalog_of_reports_a_namespace_collision_and_keeps_the_first() -> None:
    first = plugin_with("lab", "mix")
    catalog = PluginCatalog.of(first, plugin_with("lab", "heat"), plugin_with("other", "x"))
    assert list(catalog.plugins) == ["lab", "other"]
    assert catalog.plugins["lab"] is first
    assert [str(d) for d in catalog.diagnostics] == [
        "lab: namespace 'lab' is already used by another plugin"
    ]
