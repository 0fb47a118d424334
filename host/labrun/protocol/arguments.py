"""Checking a process step's arguments against its plugin's argument model.

Validation errors are placed on the YAML value they are about, found by following each
error's location through the argument template. A value that came from a reference gets a
hint saying what the reference stood for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from labrun.plugin import ProcessSpec
from labrun.protocol._reader import did_you_mean
from labrun.protocol.reference import Const, MapOf, Ref, Text, locate, references
from labrun.protocol.source import Position

_PREFIXES = ("Value error, ", "Assertion failed, ")


@dataclass(frozen=True, slots=True)
class Problem:
    position: Position
    message: str
    hint: str | None = None


def accepted_keys(spec: ProcessSpec) -> set[str]:
    """The argument names the model takes (ProcessSpec.validate refuses any other)."""
    model = spec.args_model
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        for alias in (field.alias, field.validation_alias):
            if isinstance(alias, str):
                keys.add(alias)
    return keys


def shorthand_field(spec: ProcessSpec) -> str | None:
    """The one required argument a scalar stands for (`timer.wait: 10 min`), if there is one."""
    required = [
        field.alias if isinstance(field.alias, str) else name
        for name, field in spec.args_model.model_fields.items()
        if field.is_required()
    ]
    return required[0] if len(required) == 1 else None


def unknown_arguments(
    spec: ProcessSpec, arguments: MapOf, keys: set[str]
) -> tuple[list[Problem], set[str]]:
    """Problems for argument names not among `keys`, and the names suggested instead."""
    problems: list[Problem] = []
    suggested: set[str] = set()
    for index, (key, value) in enumerate(arguments.items):
        if key in keys:
            continue
        hint = did_you_mean(key, keys)
        if hint is not None:
            suggested.add(hint.removeprefix("did you mean ").removesuffix("?"))
        else:
            takes = ", ".join(sorted(keys)) or "no arguments"
            hint = f"{spec.qualified_name} takes: {takes}"
        position = arguments.keys[index] if index < len(arguments.keys) else value.position
        problems.append(
            Problem(position, f"unknown argument '{key}' for {spec.qualified_name}", hint)
        )
    return problems, suggested


def validate(
    spec: ProcessSpec,
    arguments: MapOf,
    env: Mapping[str, Any],
    *,
    explain: Callable[[str], str],
    ignore_missing: set[str] | frozenset[str] = frozenset(),
) -> tuple[BaseModel | None, list[Problem]]:
    """The argument model for `env`, or the problems that stop it from validating."""
    try:
        return spec.validate(arguments.resolve(env)), []
    except ValidationError as error:
        errors = error.errors(include_url=False)
    except Exception as error:  # noqa: BLE001 - a plugin's validator may raise anything
        message = (
            f"the argument model of {spec.qualified_name} raised {type(error).__name__}: {error}"
        )
        return None, [Problem(arguments.position, message)]
    problems: list[Problem] = []
    for item in errors:
        loc = tuple(item["loc"])
        field = ".".join(str(part) for part in loc)
        if item["type"] == "missing":
            if len(loc) == 1 and loc[0] in ignore_missing:
                continue
            parent = locate(arguments, loc[:-1])
            problems.append(
                Problem(parent.position, f"{spec.qualified_name} needs the argument '{field}'")
            )
            continue
        if item["type"] == "extra_forbidden" and len(loc) == 1:
            continue  # reported by unknown_arguments, with a suggestion
        target = locate(arguments, loc)
        message = _clean(item["msg"])
        where = (
            f"bad {field} for {spec.qualified_name}"
            if field
            else f"bad arguments for {spec.qualified_name}"
        )
        hint = None
        if (
            isinstance(target, Const)
            and target.written is not None
            and item["type"] == "string_type"
        ):
            hint = f"quote it to make it text: '{target.written}'"
        elif isinstance(target, Ref | Text):
            hint = "; ".join(
                explain(name) for name in dict.fromkeys(r.name for r in references(target))
            )
        problems.append(Problem(target.position, f"{where}: {message}", hint))
    return None, problems


def _clean(message: str) -> str:
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
