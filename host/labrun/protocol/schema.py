"""The JSON Schema of protocol files, with every installed plugin's argument models.

Editors use it to complete and check protocol files as they are typed (docs/protocols.md
says how to hook it up). It is written in draft-07, the draft editors support best. It
cannot say everything the compiler checks (units, references, ids), so the compiler stays
the judge; the schema only needs to accept every valid protocol and help write one.
"""

from __future__ import annotations

import warnings
from typing import Any

from pydantic.errors import PydanticUserError
from pydantic.json_schema import PydanticJsonSchemaWarning

from labrun.catalog import PluginCatalog
from labrun.plugin import ProcessSpec
from labrun.protocol.arguments import shorthand_field
from labrun.protocol.parameter import Kind

DRAFT = "http://json-schema.org/draft-07/schema#"
_QUANTITY_TEXT = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*\S.*$"
_REFERENCE = {
    "type": "string",
    "pattern": r"\$\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}",
    "description": "A parameter or sweep variable, as in ${temp}.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def protocol_schema(catalog: PluginCatalog) -> dict[str, Any]:
    """The schema of a protocol file for the plugins in `catalog`."""
    definitions: dict[str, Any] = {
        "reference": _REFERENCE,
        "duration": {
            "type": "string",
            "pattern": _QUANTITY_TEXT,
            "examples": ["10 min"],
            "description": "A time, such as '30 s' or '2 h'.",
        },
        "name": {"type": ["string", "number"], "description": "A name shown to technicians."},
        "id": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
            "description": "A stable handle for jumping to and swapping this step.",
        },
        "on_error": _ON_ERROR,
        "parameter": _PARAMETER,
        "steps": {"type": "array", "items": _ref("step"), "minItems": 1},
        "sequence": _structure("steps", _ref("steps"), "Steps run one after the other."),
        "parallel": _structure("parallel", _ref("steps"), "Branches run at the same time."),
        "repeat": _structure(
            "repeat",
            {"anyOf": [{"type": "integer", "minimum": 0}, _ref("reference")]},
            "Runs its steps a number of times.",
            steps=True,
        ),
        "sweep": _structure(
            "sweep",
            {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "Runs its steps once per value, with ${variable} set to the value.",
            steps=True,
            values=True,
        ),
    }
    process_names = []
    for spec in catalog.processes():
        name = f"process:{spec.qualified_name}"
        definitions[name] = _process(spec, definitions)
        process_names.append(name)
    definitions["step"] = {
        "anyOf": [
            _ref(name) for name in [*process_names, "sequence", "parallel", "repeat", "sweep"]
        ]
    }
    return {
        "$schema": DRAFT,
        "title": "labrun protocol",
        "description": "A laboratory protocol run by labrun (docs/protocols.md).",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The protocol's name."},
            "description": {"type": "string"},
            "parameters": {
                "type": "object",
                "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": _ref("parameter"),
                "description": "Values given when a run starts, used as ${name}.",
            },
            "devices": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "The devices the protocol uses, by the names it uses for them.",
            },
            "steps": _ref("steps"),
        },
        "required": ["steps"],
        "additionalProperties": False,
        "definitions": definitions,
    }


_ON_ERROR = {
    "description": "What happens when the step fails.",
    "anyOf": [
        {"enum": ["pause", "skip", "halt"]},
        {
            "type": "object",
            "properties": {
                "retry": {"type": "integer", "minimum": 1, "maximum": 100},
                "backoff": _ref("duration"),
            },
            "required": ["retry"],
            "additionalProperties": False,
        },
    ],
}

_PARAMETER = {
    "type": "object",
    "properties": {
        "type": {"enum": [kind.value for kind in Kind if kind is not Kind.QUANTITY]},
        "unit": {"type": "string", "description": "Values are quantities of this unit's kind."},
        "default": {},
        "min": {},
        "max": {},
        "choices": {"type": "array", "minItems": 1},
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}


def _structure(
    key: str, value: dict[str, Any], description: str, *, steps: bool = False, values: bool = False
) -> dict[str, Any]:
    properties: dict[str, Any] = {key: value, "name": _ref("name"), "id": _ref("id")}
    required = [key]
    if values:
        properties["values"] = {
            "anyOf": [
                {"type": "array", "minItems": 1},
                {"type": "string", "pattern": r"^.+\s+to\s+.+\s+by\s+.+$"},
            ],
            "description": "A list, or a range such as '20 degC to 40 degC by 5 degC'.",
        }
        required.append("values")
    if steps:
        properties["steps"] = _ref("steps")
        required.append("steps")
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _process(spec: ProcessSpec, definitions: dict[str, Any]) -> dict[str, Any]:
    name = spec.qualified_name
    arguments = _arguments(spec, definitions)
    forms: list[dict[str, Any]] = [arguments]
    field = shorthand_field(spec)
    properties = arguments.get("properties", {})
    if field is not None and field in properties:
        forms.append(properties[field])
    if not arguments.get("required"):
        forms.append({"type": "null"})
    return {
        "type": "object",
        "title": name,
        "description": spec.description,
        "properties": {
            name: {"anyOf": forms, "description": spec.description},
            "name": _ref("name"),
            "id": _ref("id"),
            "on_error": _ref("on_error"),
            "timeout": _ref("duration"),
        },
        "required": [name],
        "additionalProperties": False,
    }


def _arguments(spec: ProcessSpec, definitions: dict[str, Any]) -> dict[str, Any]:
    """The argument model's schema, its own definitions moved (renamed) into `definitions`."""
    prefix = f"{spec.qualified_name}."
    try:
        with warnings.catch_warnings():
            # Pydantic warns and leaves out defaults it cannot write as JSON: that is fine here.
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            schema = spec.args_model.model_json_schema(
                ref_template=f"#/definitions/{prefix}{{model}}"
            )
    except (PydanticUserError, TypeError, ValueError):
        # A model with types JSON Schema cannot express: the editor accepts any arguments.
        return {"type": "object", "description": spec.description}
    for model_name, model_schema in schema.pop("$defs", {}).items():
        definitions[prefix + model_name] = _with_references(model_schema)
    with_references: dict[str, Any] = _with_references(schema)
    return with_references


def _with_references(schema: Any) -> Any:
    """`schema` with `${name}` allowed wherever an object property or list item goes."""
    if not isinstance(schema, dict):
        return schema
    result = dict(schema)
    if isinstance(schema.get("properties"), dict):
        result["properties"] = {
            key: _or_reference(_with_references(value))
            for key, value in schema["properties"].items()
        }
    if isinstance(schema.get("items"), dict):
        result["items"] = _or_reference(_with_references(schema["items"]))
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            result[key] = [_with_references(item) for item in schema[key]]
    return result


def _or_reference(schema: dict[str, Any]) -> dict[str, Any]:
    wrapped: dict[str, Any] = {"anyOf": [schema, _ref("reference")]}
    for key in ("title", "description", "default"):
        if key in schema:
            wrapped[key] = schema[key]
    return wrapped
