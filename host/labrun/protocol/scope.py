"""The names a step can refer to: the protocol's parameters and the enclosing sweeps' variables."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from labrun.protocol.parameter import Parameter
from labrun.protocol.reference import format_value


@dataclass(frozen=True)
class Scope:
    parameters: Mapping[str, Parameter]
    # Sweep variables in scope, innermost last, with their values.
    variables: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    # The values static estimates use: the parameters' defaults.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The values arguments are checked with: defaults, or a value each declaration allows.
    samples: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, parameters: Mapping[str, Parameter]) -> Scope:
        defaults = {name: p.default for name, p in parameters.items() if p.has_default}
        samples = {name: p.sample() for name, p in parameters.items()}
        return cls(parameters, {}, defaults, samples)

    def with_variable(self, name: str, values: tuple[Any, ...]) -> Scope:
        return Scope(self.parameters, {**self.variables, name: values}, self.defaults, self.samples)

    def estimable(self, names: tuple[str, ...]) -> bool:
        """Whether nodes depending on `names` have a static estimate (no sweep variable,
        no parameter without a default)."""
        return all(name in self.parameters and self.parameters[name].has_default for name in names)

    def combinations(self, names: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every combination of the values of the sweep variables among `names`."""
        swept = [name for name in names if name in self.variables]
        for values in itertools.product(*(self.variables[name] for name in swept)):
            yield dict(zip(swept, values, strict=True))

    def explain(self, name: str) -> str:
        """What `${name}` stands for, as a hint."""
        if name in self.variables:
            values = self.variables[name]
            shown = ", ".join(format_value(value) for value in values[:3])
            more = f", ... ({len(values)} values)" if len(values) > 3 else ""
            return f"${{{name}}} is the sweep variable over {shown}{more}"
        parameter = self.parameters[name]
        return f"${{{name}}} is the parameter '{name}': {parameter.summary()}"
