"""`compile`: each kind of problem, with its exact message, and all of them at once."""

import pytest
from lab_plugin import build, first_lines, hints

from labrun.protocol import CompileResult, compile


def only(result: CompileResult) -> tuple[str, str | None]:
    (diagnostic,) = result.diagnostics
    return diagnostic.render().split("\n", 1)[0], diagnostic.hint


def test_a_valid_protocol_compiles_without_diagnostics():
    result = build(
        """
        name: Valid
        steps:
          - lab.wait: 10 min
        """
    )
    assert result.ok
    assert result.diagnostics == ()
    assert result.protocol is not None
    assert result.protocol.name == "Valid"


def test_unknown_top_level_key():
    result = build("stpes:\n  - lab.wait: 1 s\nsteps:\n  - lab.wait: 1 s\n")
    assert only(result) == ("p.yml:1:1: error: unknown key 'stpes'", "did you mean steps?")


def test_unknown_step_key():
    result = build("steps:\n  - lab.wait: 1 s\n    nmae: Wait\n")
    assert only(result) == ("p.yml:3:5: error: unknown key 'nmae'", "did you mean name?")


def test_a_key_that_is_a_process_name_without_its_namespace():
    result = build("steps:\n  - wait: 1 s\n")
    assert only(result) == (
        "p.yml:2:5: error: unknown key 'wait'",
        "did you mean lab.wait? processes are written namespace.name",
    )


def test_unknown_argument():
    result = build("steps:\n  - lab.wait: {durration: 1 s}\n")
    assert only(result) == (
        "p.yml:2:16: error: unknown argument 'durration' for lab.wait",
        "did you mean duration?",
    )


def test_duplicate_keys():
    result = build("steps:\n  - lab.wait: 1 s\nsteps:\n  - lab.wait: 2 s\n")
    assert only(result) == (
        "p.yml:3:1: error: duplicate key 'steps'",
        "'steps' is first given at line 1",
    )


def test_duplicate_argument_keys():
    result = build(
        "steps:\n  - lab.heat:\n      target: 37 degC\n      hold: 1 min\n      target: 40 degC\n"
    )
    assert only(result) == (
        "p.yml:5:7: error: duplicate key 'target'",
        "'target' is first given at line 3",
    )


def test_bad_unit():
    result = build("steps:\n  - lab.wait: 10 blorbs\n")
    assert only(result) == (
        "p.yml:2:15: error: bad duration for lab.wait: unknown unit 'blorbs' in '10 blorbs'",
        None,
    )


def test_wrong_dimension():
    result = build("steps:\n  - lab.dispense: {volume: 5 min}\n")
    assert only(result) == (
        "p.yml:2:28: error: bad volume for lab.dispense: expected a volume, got 5 min (a time)",
        None,
    )


def test_a_value_needs_a_unit():
    result = build("steps:\n  - lab.wait: 10\n")
    assert only(result) == (
        "p.yml:2:15: error: bad duration for lab.wait: a time needs a unit, such as '10 min'",
        None,
    )


def test_value_out_of_bounds():
    result = build("steps:\n  - lab.heat: {target: 120 degC, hold: 1 min}\n")
    assert only(result) == (
        "p.yml:2:24: error: bad target for lab.heat: 120 °C is above the maximum 100 °C",
        None,
    )


def test_number_out_of_bounds():
    result = build("steps:\n  - lab.count: {n: 11}\n")
    assert only(result) == (
        "p.yml:2:20: error: bad n for lab.count: Input should be less than or equal to 10",
        None,
    )


def test_unknown_plugin():
    result = build("steps:\n  - tmer.wait: 10 min\n")
    assert only(result) == (
        "p.yml:2:5: error: unknown process 'tmer.wait': no plugin 'tmer' is installed",
        "installed plugins: lab",
    )


def test_unknown_plugin_close_to_a_process():
    result = build("steps:\n  - lb.wait: 10 min\n")
    assert only(result) == (
        "p.yml:2:5: error: unknown process 'lb.wait': no plugin 'lb' is installed",
        "did you mean lab.wait?",
    )


def test_unknown_process():
    result = build("steps:\n  - lab.wiat: 10 min\n")
    assert only(result) == (
        "p.yml:2:5: error: unknown process 'lab.wiat': plugin 'lab' has no process 'wiat'",
        "did you mean lab.wait?",
    )


def test_missing_argument():
    result = build("steps:\n  - lab.heat: {target: 37 degC}\n")
    assert only(result) == ("p.yml:2:15: error: lab.heat needs the argument 'hold'", None)


def test_a_scalar_for_a_process_with_several_required_arguments():
    result = build("steps:\n  - lab.heat: 37 degC\n")
    assert only(result) == (
        "p.yml:2:15: error: lab.heat takes the arguments target, hold; "
        "give its arguments as a mapping",
        "write them under lab.heat:, one 'name: value' per line",
    )


def test_a_number_where_text_is_expected_gets_a_quoting_hint():
    result = build("steps:\n  - lab.note: 2024\n")
    assert only(result) == (
        "p.yml:2:15: error: bad text for lab.note: Input should be a valid string",
        "quote it to make it text: '2024'",
    )


def test_duplicate_ids():
    result = build(
        """
        steps:
          - lab.wait: 1 s
            id: mix
          - lab.wait: 2 s
            id: mix
        """
    )
    assert only(result) == ("p.yml:5:9: error: duplicate id 'mix'", "'mix' is first used at line 3")


def test_invalid_id():
    result = build("steps:\n  - lab.wait: 1 s\n    id: two words\n")
    assert only(result) == (
        "p.yml:3:9: error: invalid id 'two words'",
        "an id is letters, digits, '_', '-' and '.'",
    )


def test_undefined_reference():
    result = build(
        """
        parameters:
          temp: {unit: degC, default: 37 degC}
          cycles: {type: int, default: 3}
        steps:
          - lab.heat: {target: "${tmp}", hold: 1 min}
        """
    )
    assert only(result) == (
        "p.yml:5:24: error: unknown parameter 'tmp'",
        "did you mean temp? parameters are: temp, cycles",
    )


def test_empty_file():
    result = build("")
    assert only(result) == (
        "p.yml:1:1: error: the protocol is empty",
        "a protocol is a mapping with at least 'steps:', a list of steps",
    )


def test_a_file_of_comments_is_empty():
    result = build("# nothing yet\n")
    assert first_lines(result) == ["p.yml:1:1: error: the protocol is empty"]


def test_empty_steps():
    result = build("steps: []\n")
    assert only(result) == ("p.yml:1:8: error: 'steps' is empty", "add at least one step")


def test_no_steps():
    result = build("name: Nothing\n")
    assert only(result) == (
        "p.yml:1:1: error: the protocol has no 'steps'",
        "add steps: with a list of steps",
    )


def test_a_protocol_that_is_a_list():
    result = build("- lab.wait: 1 s\n")
    assert first_lines(result) == [
        "p.yml:1:1: error: a protocol is a mapping with 'steps:' (and name, description, "
        "parameters, devices), got a list"
    ]


def test_a_step_that_is_text():
    result = build("steps:\n  - lab.wait\n")
    assert only(result) == (
        "p.yml:2:5: error: expected a step, got 'lab.wait'",
        "add ':' and the arguments: 'lab.wait: ...'",
    )


def test_a_step_with_two_processes():
    result = build("steps:\n  - lab.wait: 1 s\n    lab.note: hi\n")
    assert only(result) == (
        "p.yml:2:5: error: a step does one thing; this one has lab.wait and lab.note",
        "make them separate steps",
    )


def test_a_step_that_does_nothing():
    result = build("steps:\n  - name: idle\n")
    assert first_lines(result) == ["p.yml:2:5: error: this step does nothing"]


def test_unsupported_tag():
    result = build("steps:\n  - lab.note: !!python/object:os.system echo\n")
    assert first_lines(result) == [
        "p.yml:2:15: error: unsupported tag tag:yaml.org,2002:python/object:os.system"
    ]


def test_merge_keys_are_refused():
    result = build(
        """
        steps:
          - lab.heat: &base {target: 37 degC, hold: 1 min}
          - lab.heat:
              <<: *base
              hold: 2 min
        """
    )
    assert first_lines(result) == [
        "p.yml:4:7: error: merge keys (<<) are not supported; write the keys out"
    ]


def test_aliases_of_steps_work_and_keep_their_ids_unique_check():
    result = build(
        """
        steps:
          - &rinse
            lab.wait: 1 s
          - *rinse
        """
    )
    assert result.ok
    assert result.protocol is not None
    assert result.protocol.estimate == 2.0


def test_an_alias_bomb_is_stopped():
    lines = ["a0: &a0 [lab, lab, lab, lab, lab, lab, lab, lab, lab, lab]"]
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    text = "steps:\n  - lab.note:\n      text:\n        " + "\n        ".join(
        f"k{i}: {line.split(': ', 1)[1]}" for i, line in enumerate(lines)
    )
    result = build(text)
    assert first_lines(result) == [
        "p.yml:1:1: error: the protocol is too large: more than 1000000 YAML nodes "
        "once aliases are expanded"
    ]


def test_a_recursive_alias_is_stopped():
    result = build("steps:\n  - lab.note:\n      text: &loop [*loop]\n")
    assert first_lines(result) == [
        "p.yml:3:13: error: the value is nested more than 64 levels deep"
    ]


def test_all_problems_are_reported_at_once():
    result = build(
        """
        name: Many problems
        parameters:
          temp: {unit: degC, default: 37 degC}
        steps:
          - tmer.wait: 10 min
          - lab.wait: 5 ml
          - lab.wait: ${tmp}
          - lab.wait: 1 s
            id: a
          - lab.wait: 1 s
            id: a
          - repeat: 2
        """
    )
    assert first_lines(result) == [
        "p.yml:5:5: error: unknown process 'tmer.wait': no plugin 'tmer' is installed",
        "p.yml:6:15: error: bad duration for lab.wait: expected a time, got 5 ml (a volume)",
        "p.yml:7:15: error: unknown parameter 'tmp'",
        "p.yml:11:9: error: duplicate id 'a'",
        "p.yml:12:5: error: 'repeat' needs 'steps'",
    ]
    assert result.protocol is None


def test_a_failing_estimator_is_a_warning_and_the_protocol_still_compiles():
    result = build("steps:\n  - lab.broken:\n")
    assert only(result) == (
        "p.yml:2:5: warning: the duration of lab.broken cannot be estimated: "
        "ZeroDivisionError: division by zero",
        None,
    )
    assert result.ok
    assert result.protocol is not None
    assert result.protocol.estimate is None


def test_devices_are_checked_against_the_configuration():
    text = "devices:\n  bath: water_bth\n  pump: pump_1\nsteps:\n  - lab.wait: 1 s\n"
    result = build(text, devices=["water_bath", "pump_1"])
    assert only(result) == (
        "p.yml:2:9: error: unknown device 'water_bth'",
        "did you mean water_bath? configured devices: pump_1, water_bath",
    )
    unchecked = build(text)
    assert unchecked.protocol is not None
    assert dict(unchecked.protocol.devices) == {"bath": "water_bth", "pump": "pump_1"}


def test_the_name_defaults_to_the_file_name():
    result = build("steps:\n  - lab.wait: 1 s\n")
    assert result.protocol is not None
    assert result.protocol.name == "p"


def test_compile_needs_a_path_or_a_text():
    with pytest.raises(TypeError, match="needs a path or a text"):
        compile()


def test_hints_list_what_is_expected_when_nothing_is_close():
    result = build("steps:\n  - lab.wait: 1 s\n    colour: red\n")
    assert hints(result) == ["expected one of: id, name, on_error, timeout"]
