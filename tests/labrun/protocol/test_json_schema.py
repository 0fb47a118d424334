"""The JSON Schema of protocol files, built from the installed plugins."""

import json

from lab_plugin import CATALOG

from labrun.protocol.schema import DRAFT, protocol_schema


def test_the_schema_describes_the_document_and_every_process():
    schema = protocol_schema(CATALOG)
    assert schema["$schema"] == DRAFT
    assert schema["required"] == ["steps"]
    assert set(schema["properties"]) == {"name", "description", "parameters", "devices", "steps"}
    definitions = schema["definitions"]
    step_kinds = [ref["$ref"] for ref in definitions["step"]["anyOf"]]
    assert "#/definitions/process:lab.wait" in step_kinds
    assert step_kinds[-4:] == [
        f"#/definitions/{kind}" for kind in ("sequence", "parallel", "repeat", "sweep")
    ]
    json.dumps(schema)  # plain JSON all through


def test_a_process_takes_its_argument_model_or_the_shorthand_scalar():
    definitions = protocol_schema(CATALOG)["definitions"]
    wait = definitions["process:lab.wait"]
    assert wait["required"] == ["lab.wait"]
    assert set(wait["properties"]) == {"lab.wait", "name", "id", "on_error", "timeout"}
    arguments, shorthand = wait["properties"]["lab.wait"]["anyOf"]
    assert arguments["required"] == ["duration"]
    assert arguments["properties"]["duration"]["anyOf"][1] == {"$ref": "#/definitions/reference"}
    assert shorthand == arguments["properties"]["duration"]


def test_a_process_without_required_arguments_may_be_given_nothing():
    definitions = protocol_schema(CATALOG)["definitions"]
    forms = definitions["process:lab.spin"]["properties"]["lab.spin"]["anyOf"]
    assert forms[-1] == {"type": "null"}


def test_references_are_allowed_in_place_of_any_argument():
    definitions = protocol_schema(CATALOG)["definitions"]
    count = definitions["process:lab.count"]["properties"]["lab.count"]["anyOf"][0]
    n = count["properties"]["n"]
    assert n["anyOf"][0]["type"] == "integer"
    assert n["anyOf"][1] == {"$ref": "#/definitions/reference"}


def test_structures_and_parameters():
    definitions = protocol_schema(CATALOG)["definitions"]
    assert definitions["sweep"]["required"] == ["sweep", "values", "steps"]
    assert definitions["repeat"]["required"] == ["repeat", "steps"]
    assert definitions["parameter"]["properties"]["type"]["enum"] == ["int", "float", "str", "bool"]
    assert definitions["on_error"]["anyOf"][0] == {"enum": ["pause", "skip", "halt"]}
