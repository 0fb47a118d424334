"""Reading the step structure: sequences, parallel branches, repeats and sweeps.

A step is a mapping with one key saying what it is: a process (`namespace.process`),
`steps` (a sequence), `parallel`, `repeat` (with `steps`) or `sweep` (with `values` and
`steps`); and optionally `name` and `id`. Process steps also take `on_error` and `timeout`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from labrun.catalog import PluginCatalog
from labrun.protocol._reader import MAX_NESTING, Reader, describe, did_you_mean
from labrun.protocol.devices import DeviceCheck
from labrun.protocol.estimate import Estimator
from labrun.protocol.process import Fields, ProcessReader
from labrun.protocol.reference import NAME, Ref, TemplateBuilder, references
from labrun.protocol.scope import Scope
from labrun.protocol.sweep import is_range, parse_range
from labrun.protocol.tree import ParallelStep, RepeatStep, SequenceStep, Step, SweepStep

MAX_REPEAT = 1_000_000_000

_COMMON = frozenset({"name", "id"})
_KEYS = {
    "process": _COMMON | {"on_error", "timeout"},
    "steps": _COMMON | {"steps"},
    "parallel": _COMMON | {"parallel"},
    "repeat": _COMMON | {"repeat", "steps"},
    "sweep": _COMMON | {"sweep", "values", "steps"},
}
_STRUCTURES = ("parallel", "repeat", "sweep")
_NEEDS = {"repeat": ("steps",), "sweep": ("values", "steps")}
_HOW = {
    "steps": "add steps: with the steps to run",
    "values": "add values: with a list, or a range such as '20 degC to 40 degC by 5 degC'",
}
Combine = Callable[[tuple[Step, ...], Mapping[str, Any]], float | None]
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_REFERENCE = re.compile(r"\$\{\s*([^}]*?)\s*\}")


def child_path(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


class StepReader:
    def __init__(
        self, reader: Reader, catalog: PluginCatalog, scope: Scope, devices: DeviceCheck
    ) -> None:
        self._reader = reader
        self._catalog = catalog
        self._root_scope = scope
        self.estimator = Estimator()
        self._templates = TemplateBuilder(reader, scope.parameters)
        self._processes = ProcessReader(reader, catalog, self._templates, self.estimator, devices)
        self._ids: dict[str, yaml.Node] = {}
        self._defaults = scope.defaults
        # Sweep ranges by their text: parsing units with pint is slow, and ranges repeat.
        self._ranges: dict[str, tuple[Any, ...]] = {}

    def root(self, node: yaml.Node) -> SequenceStep | None:
        steps = self._list(node, "", self._root_scope, 0, "steps")
        if steps is None:
            return None
        position = self._reader.position(node)
        return SequenceStep(
            path="",
            id=None,
            name=None,
            position=position,
            steps=steps,
            **self._composite(steps, self._root_scope, self.estimator.steps),
        )

    def _list(
        self, node: yaml.Node, path: str, scope: Scope, depth: int, what: str
    ) -> tuple[Step, ...] | None:
        reader = self._reader
        items = reader.sequence(node, what)
        if items is None:
            return None
        if not items:
            reader.error(node, f"'{what}' is empty", "add at least one step")
            return None
        steps = [
            self._step(item, child_path(path, i), scope, depth + 1) for i, item in enumerate(items)
        ]
        if any(step is None for step in steps):
            return None
        return tuple(step for step in steps if step is not None)

    def _step(self, node: yaml.Node, path: str, scope: Scope, depth: int) -> Step | None:
        reader = self._reader
        if depth > MAX_NESTING:
            reader.error(node, f"steps are nested more than {MAX_NESTING} levels deep")
            return None
        if not isinstance(node, yaml.MappingNode):
            self._not_a_step(node)
            return None
        fields = reader.mapping(node, "a step")
        if fields is None:
            return None
        kind, process = self._kind(node, fields)
        if kind is None:
            return None
        allowed = _KEYS[kind]
        for key, (key_node, _) in fields.items():
            if key not in allowed and key != process:
                reader.unknown_key(key_node, key, allowed)
        common = self._common(fields, path, node)
        if process is not None:
            return self._processes.read(node, fields, process, common, scope)
        if kind == "steps":
            return self._sequence(fields, path, scope, depth, common)
        if kind == "parallel":
            return self._parallel(fields, path, scope, depth, common)
        if kind == "repeat":
            return self._repeat(fields, path, scope, depth, common)
        return self._sweep(fields, path, scope, depth, common)

    def _kind(self, node: yaml.Node, fields: Fields) -> tuple[str | None, str | None]:
        reader = self._reader
        processes = [key for key in fields if "." in key]
        structures = [key for key in _STRUCTURES if key in fields]
        found = processes + structures
        if len(found) > 1:
            listed = " and ".join(found)
            hint = "make them separate steps" if processes else None
            reader.error(node, f"a step does one thing; this one has {listed}", hint)
            return None, None
        if processes:
            return "process", processes[0]
        if structures:
            for needed in _NEEDS.get(structures[0], ()):
                if needed not in fields:
                    reader.error(node, f"'{structures[0]}' needs '{needed}'", _HOW[needed])
                    return None, None
            return structures[0], None
        if "steps" in fields:
            return "steps", None
        self._nothing_to_do(node, fields)
        return None, None

    def _nothing_to_do(self, node: yaml.Node, fields: Fields) -> None:
        reader = self._reader
        names = [spec.qualified_name for spec in self._catalog.processes()]
        unknown = [key for key in fields if key not in _COMMON]
        for key in unknown:
            by_short_name = [name for name in names if name.split(".", 1)[1] == key]
            hint = (
                f"did you mean {by_short_name[0]}? processes are written namespace.name"
                if by_short_name
                else did_you_mean(key, ["steps", *_STRUCTURES, "on_error", "timeout"])
            )
            reader.error(fields[key][0], f"unknown key '{key}'", hint)
        if not unknown:
            reader.error(
                node,
                "this step does nothing",
                "a step is a process (such as timer.wait) or steps, parallel, repeat or sweep",
            )

    def _not_a_step(self, node: yaml.Node) -> None:
        hint = "a step is a mapping, such as '- timer.wait: 10 min'"
        if isinstance(node, yaml.ScalarNode) and self._catalog.process(node.value.strip()):
            hint = f"add ':' and the arguments: '{node.value.strip()}: ...'"
        self._reader.error(node, f"expected a step, got {describe(node)}", hint)

    def _common(self, fields: Fields, path: str, node: yaml.Node) -> dict[str, Any]:
        """path, id, name and position; a bad id or name is reported, and the step is still
        read so that the problems inside it are reported too."""
        reader = self._reader
        name = reader.text(fields["name"][1], "a name") if "name" in fields else None
        step_id = None
        if "id" in fields:
            id_node = fields["id"][1]
            step_id = reader.text(id_node, "an id")
            if step_id is not None and not _ID.fullmatch(step_id):
                reader.error(
                    id_node, f"invalid id '{step_id}'", "an id is letters, digits, '_', '-' and '.'"
                )
                step_id = None
            elif step_id is not None and step_id in self._ids:
                first = reader.position(self._ids[step_id]).line
                reader.error(
                    id_node,
                    f"duplicate id '{step_id}'",
                    f"'{step_id}' is first used at line {first}",
                )
            elif step_id is not None:
                self._ids[step_id] = id_node
        return {"path": path, "id": step_id, "name": name, "position": reader.position(node)}

    def _composite(self, steps: tuple[Step, ...], scope: Scope, combine: Combine) -> dict[str, Any]:
        """`estimate` and `depends_on` of a sequence or parallel of `steps`."""
        names = {name for step in steps for name in step.depends_on}
        depends_on = tuple(sorted(names))
        estimate = combine(steps, self._defaults) if scope.estimable(depends_on) else None
        return {"estimate": estimate, "depends_on": depends_on}

    def _sequence(
        self, fields: Fields, path: str, scope: Scope, depth: int, common: dict[str, Any]
    ) -> Step | None:
        steps = self._list(fields["steps"][1], path, scope, depth, "steps")
        if steps is None:
            return None
        return SequenceStep(
            **common, steps=steps, **self._composite(steps, scope, self.estimator.steps)
        )

    def _parallel(
        self, fields: Fields, path: str, scope: Scope, depth: int, common: dict[str, Any]
    ) -> Step | None:
        branches = self._list(fields["parallel"][1], path, scope, depth, "parallel")
        if branches is None:
            return None
        return ParallelStep(
            **common, branches=branches, **self._composite(branches, scope, self.estimator.branches)
        )

    def _repeat(
        self,
        fields: Fields,
        path: str,
        scope: Scope,
        depth: int,
        common: dict[str, Any],
    ) -> Step | None:
        count = self._count(fields["repeat"][1], scope)
        steps = self._list(fields["steps"][1], path, scope, depth, "steps")
        if count is None or steps is None:
            return None
        names = {name for step in steps for name in step.depends_on}
        if isinstance(count, Ref):
            names.add(count.name)
        depends_on = tuple(sorted(names))
        estimate = None
        if scope.estimable(depends_on):
            times = count if isinstance(count, int) else self._defaults[count.name]
            estimate = self.estimator.repeat(times, steps, self._defaults)
        return RepeatStep(
            **common, count=count, steps=steps, estimate=estimate, depends_on=depends_on
        )

    def _count(self, node: yaml.Node, scope: Scope) -> int | Ref | None:
        reader = self._reader
        if not isinstance(node, yaml.ScalarNode):
            reader.error(node, f"the repeat count must be a whole number, got {describe(node)}")
            return None
        ok, value = reader.scalar(node)
        if not ok:
            return None
        if isinstance(value, str) and (match := _REFERENCE.fullmatch(value.strip())):
            name = match.group(1)
            if not self._templates.check_name(node, name, value.strip(), scope.variables):
                return None
            samples = scope.variables.get(name) or (scope.samples[name],)
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in samples):
                reader.error(
                    node,
                    f"the repeat count ${{{name}}} must be a whole number",
                    scope.explain(name),
                )
                return None
            return Ref(name, reader.position(node))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPEAT:
            reader.error(
                node,
                f"the repeat count must be a whole number from 0 to {MAX_REPEAT}, "
                f"got {describe(node)}",
                "or a parameter, as in repeat: ${cycles}",
            )
            return None
        if value == 0:
            reader.warning(node, "repeat 0 times: these steps never run")
        return value

    def _sweep(
        self,
        fields: Fields,
        path: str,
        scope: Scope,
        depth: int,
        common: dict[str, Any],
    ) -> Step | None:
        variable = self._variable(fields["sweep"][1], scope)
        values = self._values(fields["values"][1], scope)
        if variable is None or values is None:
            return None
        inner = scope.with_variable(variable, values)
        steps = self._list(fields["steps"][1], path, inner, depth, "steps")
        if steps is None:
            return None
        names = {name for step in steps for name in step.depends_on} - {variable}
        depends_on = tuple(sorted(names))
        estimate = None
        if scope.estimable(depends_on):
            estimate = self.estimator.sweep(variable, values, steps, self._defaults)
        return SweepStep(
            **common,
            variable=variable,
            values=values,
            steps=steps,
            estimate=estimate,
            depends_on=depends_on,
        )

    def _variable(self, node: yaml.Node, scope: Scope) -> str | None:
        reader = self._reader
        name = reader.text(node, "the sweep variable")
        if name is None:
            return None
        if not NAME.fullmatch(name):
            reader.error(
                node, f"invalid sweep variable name '{name}'", "a name is letters, digits and _"
            )
            return None
        if name in scope.parameters or name in scope.variables:
            what = (
                "a parameter" if name in scope.parameters else "the variable of an enclosing sweep"
            )
            # Reported, and still bound, so the steps inside are checked as they would be.
            reader.error(
                node,
                f"the sweep variable '{name}' hides {what} of the same name",
                "rename one of them",
            )
        return name

    def _values(self, node: yaml.Node, scope: Scope) -> tuple[Any, ...] | None:
        reader = self._reader
        if isinstance(node, yaml.ScalarNode):
            ok, text = reader.scalar(node)
            if ok and isinstance(text, str) and is_range(text):
                if text in self._ranges:
                    return self._ranges[text]
                try:
                    values = self._ranges[text] = parse_range(text)
                except ValueError as error:
                    reader.error(node, f"bad range: {error}")
                    return None
                return values
            if ok:
                reader.error(
                    node,
                    f"the values of a sweep are a list or a range, got {describe(node)}",
                    _HOW["values"],
                )
            return None
        template = self._templates.build(node, scope.variables, 1)
        if template is None:
            return None
        if next(references(template), None) is not None:
            reader.error(node, "the values of a sweep are written out; they cannot refer to ${...}")
            return None
        listed = template.resolve({})
        if not isinstance(listed, list):
            reader.error(node, f"the values of a sweep are a list or a range, got {describe(node)}")
            return None
        if not listed:
            reader.error(node, "a sweep needs at least one value")
            return None
        return tuple(listed)
