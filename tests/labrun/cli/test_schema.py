"""`labrun schema`: the JSON Schema with the installed plugins' processes."""

import json

import pytest

from labrun.cli import main


def test_the_schema_is_json_with_the_built_in_processes(capsys: pytest.CaptureFixture[str]):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "labrun protocol"
    definitions = schema["definitions"]
    assert "process:timer.wait" in definitions
    assert "process:prompt.ask" in definitions
    wait = definitions["process:timer.wait"]["properties"]["timer.wait"]
    assert wait["description"].startswith("Wait for a duration")
