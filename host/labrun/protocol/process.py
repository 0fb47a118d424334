"""Reading process steps: `namespace.process: arguments`, with `on_error` and `timeout`.

A process step's arguments are checked with every combination of the values of the sweep
variables they refer to (up to the estimator's budget), and with the parameters' defaults,
or for a parameter without one, a value its declaration allows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from labrun.catalog import PluginCatalog
from labrun.plugin import ProcessSpec
from labrun.protocol._reader import Reader, did_you_mean
from labrun.protocol.arguments import (
    Problem,
    accepted_keys,
    shorthand_field,
    unknown_arguments,
    validate,
)
from labrun.protocol.devices import DeviceCheck
from labrun.protocol.estimate import Estimator
from labrun.protocol.reference import MapOf, Template, TemplateBuilder, references
from labrun.protocol.scope import Scope
from labrun.protocol.tree import ErrorAction, OnError, ProcessStep
from labrun.quantity import QuantityError, parse_quantity, to_seconds

MAX_RETRIES = 100
_SIMPLE_ACTIONS = {
    action.value: action for action in ErrorAction if action is not ErrorAction.RETRY
}
_RETRY_KEYS = frozenset({"retry", "backoff"})
_PAUSE = OnError()

Fields = Mapping[str, tuple[yaml.Node, yaml.Node]]


class ProcessReader:
    def __init__(
        self,
        reader: Reader,
        catalog: PluginCatalog,
        templates: TemplateBuilder,
        estimator: Estimator,
        devices: DeviceCheck,
    ) -> None:
        self._reader = reader
        self._devices = devices
        self._catalog = catalog
        self._templates = templates
        self._estimator = estimator
        self._budget_warned = False
        # Estimates of arguments already validated, by process and argument values:
        # protocols repeat the same steps, and validating quantities with pint is slow.
        self._valid: dict[tuple[str, Hashable], float | None] = {}
        # The argument names each process takes, and the one a scalar stands for.
        self._keys: dict[str, tuple[set[str], str | None]] = {}
        self._specs: dict[str, ProcessSpec] = {}
        self._seconds: dict[str, float] = {}

    def read(
        self,
        node: yaml.Node,
        fields: Fields,
        process: str,
        common: dict[str, Any],
        scope: Scope,
    ) -> ProcessStep | None:
        reader = self._reader
        start = reader.error_count
        key_node, value_node = fields[process]
        spec = self.spec(key_node, process)
        made = self._templates.references_made
        arguments = self._arguments(spec, process, key_node, value_node, scope)
        on_error = self._on_error(fields["on_error"][1]) if "on_error" in fields else _PAUSE
        timeout = self._timeout(fields["timeout"][1]) if "timeout" in fields else None
        if spec is not None and spec.devices:
            self._devices.check(reader, spec, value_node, self._shape(spec)[1])
        if spec is None or arguments is None or reader.error_count > start:
            return None
        depends_on: tuple[str, ...] = ()
        if self._templates.references_made != made:
            depends_on = tuple(sorted({ref.name for ref in references(arguments)}))
        keys = self._shape(spec)[0]
        suggested: set[str] = set()
        if any(key not in keys for key, _ in arguments.items):
            problems, suggested = unknown_arguments(spec, arguments, keys)
            self._report(problems)
        results = self._check(spec, arguments, depends_on, scope, suggested)
        if results is None or reader.error_count > start:
            return None
        estimable = scope.estimable(depends_on)
        step = ProcessStep(
            **common,
            estimate=results[0][1] if estimable else None,
            depends_on=depends_on,
            process=process,
            spec=spec,
            arguments=arguments,
            on_error=on_error,
            timeout=timeout,
        )
        if depends_on and all(
            name in scope.defaults or name in scope.variables for name in depends_on
        ):
            for env, estimate in results:
                self._estimator.remember(step, env, estimate)
        return step

    def _shape(self, spec: ProcessSpec) -> tuple[set[str], str | None]:
        """The argument names `spec` takes, and the one a scalar stands for."""
        name = spec.qualified_name
        if name not in self._keys:
            self._keys[name] = (accepted_keys(spec), shorthand_field(spec))
        return self._keys[name]

    def spec(self, key_node: yaml.Node, process: str) -> ProcessSpec | None:
        if process in self._specs:
            return self._specs[process]
        spec = self._catalog.process(process)
        if spec is not None:
            self._specs[process] = spec
            return spec
        namespace, _, name = process.partition(".")
        names = [spec.qualified_name for spec in self._catalog.processes()]
        hint = did_you_mean(process, names)
        plugin = self._catalog.plugins.get(namespace)
        if plugin is not None:
            message = f"unknown process '{process}': plugin '{namespace}' has no process '{name}'"
            hint = hint or f"{namespace} has: {', '.join(sorted(plugin.processes)) or 'nothing'}"
        else:
            message = f"unknown process '{process}': no plugin '{namespace}' is installed"
            failed = [d.reason for d in self._catalog.diagnostics if d.plugin == namespace]
            if failed:
                message = f"unknown process '{process}': plugin '{namespace}' failed to load"
                hint = failed[0]
            hint = (
                hint or f"installed plugins: {', '.join(sorted(self._catalog.plugins)) or 'none'}"
            )
        self._reader.error(key_node, message, hint)
        return None

    def _arguments(
        self,
        spec: ProcessSpec | None,
        process: str,
        key_node: yaml.Node,
        node: yaml.Node,
        scope: Scope,
    ) -> MapOf | None:
        if isinstance(node, yaml.MappingNode):
            template = self._templates.build(node, scope.variables, 1)
            return template if isinstance(template, MapOf) else None
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return MapOf((), self._reader.position(key_node))
        value = self._templates.build(node, scope.variables, 1)
        if spec is None or value is None:
            return None
        field = self._shape(spec)[1]
        if field is None:
            required = [
                name for name, info in spec.args_model.model_fields.items() if info.is_required()
            ]
            takes = f"the arguments {', '.join(required)}" if required else "no required argument"
            self._reader.error(
                node,
                f"{process} takes {takes}; give its arguments as a mapping",
                f"write them under {process}:, one 'name: value' per line",
            )
            return None
        return MapOf(((field, value),), value.position)

    def _check(
        self,
        spec: ProcessSpec,
        arguments: MapOf,
        depends_on: tuple[str, ...],
        scope: Scope,
        suggested: set[str],
    ) -> list[tuple[Mapping[str, Any], float | None]] | None:
        """(values, estimate) for each combination checked; None once an error is found."""
        samples = scope.samples
        seen: set[tuple[int, int, str]] = set()
        results: list[tuple[Mapping[str, Any], float | None]] = []
        failed = False
        envs: Iterable[Mapping[str, Any]] = [samples]
        if any(name in scope.variables for name in depends_on):
            envs = ({**samples, **values} for values in scope.combinations(depends_on))
        process = spec.qualified_name
        for env in envs:
            if self._estimator.exhausted:
                self._warn_budget(arguments)
                break
            self._estimator.evaluations += 1
            key = (process, arguments.key(env))
            if key in self._valid:
                results.append((env, self._valid[key]))
                continue
            model, problems = validate(
                spec, arguments, env, explain=scope.explain, ignore_missing=suggested
            )
            for problem in problems:
                where = (
                    problem.position.line,
                    problem.position.column,
                    problem.message.split(":")[0],
                )
                if where not in seen:
                    seen.add(where)
                    self._reader.error(problem.position, problem.message, problem.hint)
            if model is None:
                failed = True
                continue
            estimate = self._estimate(spec, model, arguments)
            self._valid[key] = estimate
            results.append((env, estimate))
        if failed:
            return None
        return results or [({}, None)]

    def _estimate(self, spec: ProcessSpec, model: BaseModel, arguments: Template) -> float | None:
        try:
            return spec.estimate(model)
        except Exception as error:  # noqa: BLE001 - a plugin's estimator may raise anything
            self._reader.warning(
                arguments.position,
                f"the duration of {spec.qualified_name} cannot be estimated: "
                f"{type(error).__name__}: {error}",
            )
            return None

    def _warn_budget(self, arguments: Template) -> None:
        if not self._budget_warned:
            self._budget_warned = True
            self._reader.warning(
                arguments.position,
                "too many combinations of sweep values to check them all; "
                "the rest are checked when they run",
            )

    def _report(self, problems: list[Problem]) -> None:
        for problem in problems:
            self._reader.error(problem.position, problem.message, problem.hint)

    def _on_error(self, node: yaml.Node) -> OnError:
        reader = self._reader
        if isinstance(node, yaml.ScalarNode):
            text = reader.text(node, "on_error")
            if text in _SIMPLE_ACTIONS:
                return OnError(_SIMPLE_ACTIONS[text])
            if text == "retry":
                reader.error(node, "say how many times to retry", "write on_error: {retry: 3}")
            elif text is not None:
                hint = did_you_mean(text, [*_SIMPLE_ACTIONS, "retry"])
                reader.error(
                    node,
                    f"unknown on_error '{text}'",
                    hint or "on_error is pause, skip, halt, or {retry: N, backoff: TIME}",
                )
            return OnError()
        fields = reader.mapping(node, "on_error")
        if fields is None:
            return OnError()
        for key, (key_node, _) in fields.items():
            if key not in _RETRY_KEYS:
                reader.unknown_key(key_node, key, _RETRY_KEYS)
        if "retry" not in fields:
            reader.error(node, "on_error as a mapping needs 'retry: N'")
            return OnError()
        retry_node = fields["retry"][1]
        ok, times = (
            reader.scalar(retry_node) if isinstance(retry_node, yaml.ScalarNode) else (False, None)
        )
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_RETRIES:
            if ok or not isinstance(retry_node, yaml.ScalarNode):
                reader.error(retry_node, f"retry takes a whole number from 1 to {MAX_RETRIES}")
            return OnError()
        backoff = self._duration(fields["backoff"][1], "backoff") if "backoff" in fields else 0.0
        return OnError(ErrorAction.RETRY, times, backoff or 0.0)

    def _timeout(self, node: yaml.Node) -> float | None:
        seconds = self._duration(node, "timeout")
        if seconds == 0:
            self._reader.error(node, "a timeout must be longer than 0 s")
        return seconds

    def _duration(self, node: yaml.Node, what: str) -> float | None:
        text = self._reader.text(node, what)
        if text is None:
            return None
        if text in self._seconds:
            return self._seconds[text]
        try:
            seconds = to_seconds(parse_quantity(text))
        except QuantityError as error:
            self._reader.error(node, f"bad {what}: {error}")
            return None
        if seconds < 0:
            self._reader.error(node, f"bad {what}: a duration cannot be negative")
            return None
        self._seconds[text] = seconds
        return seconds
