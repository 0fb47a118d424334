"""The host configuration file: its devices, where it is found, and every problem placed on
the key or value at fault."""

from pathlib import Path
from typing import Annotated

import platformdirs
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labrun import Bounds, Length
from labrun.device.config import (
    ConfigError,
    DeviceConfig,
    HostConfig,
    SerialConfig,
    VisaConfig,
    default_config_path,
    load_config,
    parse_config,
)
from labrun.device.link import SerialSettings, VisaSettings

PUMP = """\
devices:
  pump:
    driver: syringe.ne1000
    serial: /dev/ttyUSB0
"""


def problems(text: str) -> list[tuple[int, int, str, str | None]]:
    """(line, column, message, hint) of each problem `text` has."""
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "config.yml")
    return [(p.line, p.column, p.message, p.hint) for p in raised.value.problems]


def only_problem(text: str) -> tuple[int, int, str, str | None]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def device(text: str, name: str = "pump") -> DeviceConfig:
    return parse_config(text, "config.yml").devices[name]


# --- good configurations --------------------------------------------------------------


def test_a_serial_port_written_as_text_keeps_every_setting_of_the_driver():
    pump = device(PUMP)
    assert pump.driver == "syringe.ne1000"
    assert pump.connection == "serial"
    assert pump.serial == SerialConfig(port="/dev/ttyUSB0")
    defaults = SerialSettings(baudrate=19200, parity="E", timeout=0.5)
    assert pump.serial.settings(defaults) == defaults
    assert pump.visa is None
    assert pump.options == {}
    assert pump.io_log is False
    assert pump.simulator == "pty"


def test_a_serial_mapping_overrides_only_the_settings_it_gives():
    pump = device(
        "devices:\n"
        "  pump:\n"
        "    driver: syringe.ne1000\n"
        "    serial: {port: COM3, parity: O, stopbits: 1.5, bytesize: 7, timeout: 4}\n"
    )
    assert pump.serial is not None
    assert pump.serial.port == "COM3"
    driver_defaults = SerialSettings(baudrate=19200, parity="N", timeout=0.5)
    assert pump.serial.settings(driver_defaults) == SerialSettings(
        baudrate=19200, parity="O", stopbits=1.5, bytesize=7, timeout=4
    )


def test_a_setting_given_equal_to_the_generic_default_still_overrides_the_driver():
    pump = device("devices:\n  pump: {driver: a.b, serial: {port: COM1, baudrate: 9600}}\n")
    assert pump.serial is not None
    assert pump.serial.settings(SerialSettings(baudrate=19200)).baudrate == 9600


@pytest.mark.parametrize(
    "port",
    ["/dev/ttyUSB0", "COM3", "socket://localhost:7000", "rfc2217://10.0.0.5:4001", "loop://"],
)
def test_a_port_is_a_device_path_or_a_pyserial_url(port):
    pump = device(f"devices:\n  pump: {{driver: a.b, serial: '{port}'}}\n")
    assert pump.serial is not None
    assert pump.serial.port == port


def test_a_visa_resource_written_as_text_uses_the_system_library():
    dmm = device(
        "devices:\n"
        "  dmm:\n"
        "    driver: scpi.dmm\n"
        '    visa: "USB0::0x2A8D::0x0101::MY57700001::INSTR"\n',
        "dmm",
    )
    assert dmm.connection == "visa"
    assert dmm.visa == VisaConfig(resource="USB0::0x2A8D::0x0101::MY57700001::INSTR")
    assert dmm.visa.library == ""
    defaults = VisaSettings(read_termination="\r\n", timeout=5)
    assert dmm.visa.settings(defaults) == defaults


def test_a_visa_mapping_gives_the_library_and_the_settings_that_differ():
    dmm = device(
        "devices:\n"
        "  dmm:\n"
        "    driver: scpi.dmm\n"
        "    visa:\n"
        '      resource: "TCPIP::192.168.1.20::INSTR"\n'
        '      library: "@py"\n'
        "      timeout: 10\n"
        '      write_termination: "\\r\\n"\n',
        "dmm",
    )
    assert dmm.visa is not None
    assert dmm.visa.resource == "TCPIP::192.168.1.20::INSTR"
    assert dmm.visa.library == "@py"
    assert dmm.visa.settings(VisaSettings(read_termination="\r", timeout=2)) == VisaSettings(
        read_termination="\r", write_termination="\r\n", timeout=10
    )


@pytest.mark.parametrize(
    ("library", "expected"),
    [
        ("@sim", "@sim"),
        ("bench.yaml@sim", "/etc/lab/bench.yaml@sim"),
        ("sims/bench.yaml@sim", "/etc/lab/sims/bench.yaml@sim"),
        ("/opt/bench.yaml@sim", "/opt/bench.yaml@sim"),
        ("/usr/lib/libvisa.so", "/usr/lib/libvisa.so"),
    ],
)
def test_a_pyvisa_sim_file_is_found_next_to_the_configuration(library, expected):
    text = f"devices:\n  dmm: {{driver: scpi.dmm, visa: {{resource: X, library: '{library}'}}}}\n"
    config = parse_config(text, "config.yml", base=Path("/etc/lab"))
    visa = config.devices["dmm"].visa
    assert visa is not None
    assert visa.library == expected


def test_a_device_without_a_connection_can_only_be_simulated():
    config = parse_config(
        "devices:\n  pump:\n    driver: syringe.ne1000\n    simulator: tcp\n", "config.yml"
    )
    pump = config.devices["pump"]
    assert pump.connection is None
    assert pump.serial is None
    assert pump.visa is None
    assert pump.simulator == "tcp"


def test_options_stay_as_written_with_yaml_1_2_booleans():
    pump = device(
        "devices:\n"
        "  pump:\n"
        "    driver: syringe.ne1000\n"
        "    options: {address: 0, diameter: 14.5 mm, beep: yes, lock: true, name: '007'}\n"
        "    io_log: true\n"
    )
    assert pump.options == {
        "address": 0,
        "diameter": "14.5 mm",
        "beep": "yes",
        "lock": True,
        "name": "007",
    }
    assert pump.io_log is True


def test_options_left_empty_are_no_options():
    # As after commenting out every option under `options:`.
    assert device(PUMP + "    options:\n    #  diameter: 14.5 mm\n").options == {}


@pytest.mark.parametrize(
    "text",
    ["", "\n", "# no devices yet\n", "devices:\n", "devices: {}\n", "{}\n", "~\n", "---\n"],
)
def test_a_file_without_devices_is_an_empty_configuration(text):
    config = parse_config(text, "config.yml")
    assert dict(config.devices) == {}
    assert config.source == "config.yml"
    assert config.path is None


def test_the_configuration_cannot_be_changed():
    config = parse_config(PUMP, "config.yml")
    with pytest.raises(TypeError):
        config.devices["dmm"] = config.devices["pump"]  # type: ignore[index]
    with pytest.raises(ValidationError):
        config.devices["pump"].driver = "other.driver"  # type: ignore[misc]
    serial = config.devices["pump"].serial
    assert serial is not None
    with pytest.raises(ValidationError):
        serial.port = "COM1"  # type: ignore[misc]


def test_anchors_and_aliases_share_settings_between_devices():
    config = parse_config(
        "devices:\n"
        "  left: {driver: syringe.ne1000, serial: &line {port: COM3, baudrate: 19200}}\n"
        "  right: {driver: syringe.ne1000, serial: *line}\n",
        "config.yml",
    )
    assert config.devices["left"].serial == config.devices["right"].serial


# --- problems, each placed on its key or value ----------------------------------------


def test_a_problem_renders_as_a_compiler_diagnostic_with_a_caret():
    text = "devices:\n  pump:\n    driver: syringe.ne1000\n    serial: {port: COM3, baudrate: 0}\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "config.yml")
    expected = (
        "config.yml:4:36: error: devices.pump.serial.baudrate: input should be greater than 0\n"
        "        serial: {port: COM3, baudrate: 0}\n"
        f"{' ' * 39}^\n"
        "  hint: the baud rate is a whole number of bits per second, such as 9600"
    )
    assert raised.value.render() == expected
    assert str(raised.value) == expected


def test_an_unknown_device_key_points_at_the_key_and_lists_the_allowed_keys():
    assert only_problem(PUMP + "    seral: COM3\n") == (
        5,
        5,
        "devices.pump: unknown key 'seral'",
        "did you mean serial? allowed keys: driver, serial, visa, options, io_log, simulator",
    )


def test_an_unknown_key_unlike_any_allowed_one_gets_the_list_alone():
    assert only_problem(PUMP + "    colour: red\n")[3] == (
        "allowed keys: driver, serial, visa, options, io_log, simulator"
    )


def test_an_unknown_top_level_key():
    assert only_problem("devics:\n  pump: {driver: a.b}\n") == (
        1,
        1,
        "unknown key 'devics'",
        "did you mean devices? allowed keys: devices",
    )


def test_an_unknown_serial_setting_lists_the_serial_keys():
    text = "devices:\n  pump:\n    driver: a.b\n    serial: {port: COM3, baud: 9600}\n"
    assert only_problem(text) == (
        4,
        26,
        "devices.pump.serial: unknown key 'baud'",
        "did you mean baudrate? allowed keys: port, baudrate, bytesize, parity, stopbits, timeout",
    )


def test_an_unknown_visa_setting_lists_the_visa_keys():
    text = "devices:\n  dmm:\n    driver: a.b\n    visa:\n      resource: X\n      lib: '@py'\n"
    assert only_problem(text) == (
        6,
        7,
        "devices.dmm.visa: unknown key 'lib'",
        "did you mean library? allowed keys: resource, read_termination, write_termination, "
        "timeout, library",
    )


@pytest.mark.parametrize("driver", ["ne1000", "Syringe.NE1000", "syringe.ne1000.x", "'1.a'"])
def test_a_driver_is_plugin_dot_driver(driver):
    line, column, message, hint = only_problem(f"devices:\n  pump:\n    driver: {driver}\n")
    assert (line, column) == (3, 13)
    assert message == f"devices.pump.driver: '{driver.strip(chr(39))}' is not a driver name"
    assert hint == "a driver is plugin.driver, such as syringe.ne1000"


def test_a_missing_driver_points_at_the_device():
    assert only_problem("devices:\n  pump:\n    serial: COM3\n") == (
        2,
        3,
        "devices.pump: 'driver' is required",
        "a driver is plugin.driver, such as syringe.ne1000",
    )


def test_a_driver_that_is_not_text():
    assert only_problem("devices:\n  pump:\n    driver: [a, b]\n") == (
        3,
        13,
        "devices.pump.driver: input should be a valid string",
        "a driver is plugin.driver, such as syringe.ne1000",
    )


# '{message}' would be filled in by pydantic if the message were its template.
@pytest.mark.parametrize("name", ["bad-name", "_pump", "2pumps", "'pump one'", "'{message}'"])
def test_a_device_name_is_letters_digits_and_underscores(name):
    assert only_problem(f"devices:\n  {name}: {{driver: a.b}}\n") == (
        2,
        3,
        f"devices: invalid device name '{name.strip(chr(39))}'",
        "a device name is letters, digits and _, and starts with a letter",
    )


def test_a_device_name_that_is_not_text():
    line, column, message, _ = only_problem("devices:\n  12: {driver: a.b}\n")
    assert (line, column, message) == (2, 3, "a key must be text, got '12'")


@pytest.mark.parametrize(
    ("serial", "column", "message", "hint"),
    [
        (
            "{port: COM3, parity: X}",
            34,
            "devices.pump.serial.parity: input should be 'N', 'E', 'O', 'M' or 'S'",
            "N (none), E (even), O (odd), M (mark) or S (space)",
        ),
        (
            "{port: COM3, bytesize: 9}",
            36,
            "devices.pump.serial.bytesize: input should be 5, 6, 7 or 8",
            None,
        ),
        (
            "{port: COM3, stopbits: 3}",
            36,
            "devices.pump.serial.stopbits: stopbits must be 1, 1.5 or 2",
            None,
        ),
        (
            "{port: COM3, timeout: 2 s}",
            35,
            "devices.pump.serial.timeout: input should be a valid number, "
            "unable to parse string as a number",
            "seconds to wait for a whole reply, such as 2",
        ),
        (
            "{port: COM3, baudrate: fast}",
            36,
            "devices.pump.serial.baudrate: input should be a valid integer, "
            "unable to parse string as an integer",
            "the baud rate is a whole number of bits per second, such as 9600",
        ),
        (
            "{baudrate: 9600}",
            5,
            "devices.pump.serial: 'port' is required",
            "a port is a device path such as /dev/ttyUSB0 or COM3, or a URL such as "
            "socket://localhost:7000 or rfc2217://host:port",
        ),
        (
            "''",
            13,
            "devices.pump.serial: the port is empty",
            "a port is a device path such as /dev/ttyUSB0 or COM3, or a URL such as "
            "socket://localhost:7000 or rfc2217://host:port",
        ),
        (
            "{port: '  '}",
            20,
            "devices.pump.serial.port: the port is empty",
            "a port is a device path such as /dev/ttyUSB0 or COM3, or a URL such as "
            "socket://localhost:7000 or rfc2217://host:port",
        ),
        (
            "3",
            13,
            "devices.pump.serial: must be a mapping, got '3'",
            "serial: is a port such as /dev/ttyUSB0 or socket://localhost:7000, or a mapping "
            "with port: and the line's settings",
        ),
        (
            "[COM3]",
            13,
            "devices.pump.serial: must be a mapping, got a list",
            "serial: is a port such as /dev/ttyUSB0 or socket://localhost:7000, or a mapping "
            "with port: and the line's settings",
        ),
    ],
)
def test_a_bad_serial_setting_points_at_its_value_or_a_missing_one_at_serial(
    serial, column, message, hint
):
    text = f"devices:\n  pump:\n    driver: a.b\n    serial: {serial}\n"
    assert only_problem(text) == (4, column, message, hint)


def test_an_unknown_serial_url_scheme_suggests_the_nearest():
    line, column, message, hint = only_problem(
        "devices:\n  pump: {driver: a.b, serial: 'sockt://localhost:7000'}\n"
    )
    assert (line, column) == (2, 31)
    assert message == "devices.pump.serial: unknown serial URL scheme 'sockt://'"
    assert hint is not None
    assert hint.startswith("did you mean socket://? serial URLs start with ")
    assert "rfc2217://" in hint


def test_an_unknown_serial_url_scheme_unlike_any_lists_them():
    hint = only_problem("devices:\n  pump: {driver: a.b, serial: 'zzzzzz://x'}\n")[3]
    assert hint is not None
    assert hint.startswith("serial URLs start with ")
    assert "socket://" in hint


@pytest.mark.parametrize(
    ("visa", "column", "message", "hint"),
    [
        (
            "''",
            11,
            "devices.dmm.visa: the VISA resource is empty",
            "a VISA resource such as USB0::0x2A8D::0x0101::MY57700001::INSTR",
        ),
        (
            "{resource: X, library: py}",
            34,
            "devices.dmm.visa.library: unknown VISA library 'py'",
            "did you mean @py?",
        ),
        (
            "{resource: X, library: visa64}",
            34,
            "devices.dmm.visa.library: unknown VISA library 'visa64'",
            "a VISA library is @py (pyvisa-py), @sim or file.yaml@sim (pyvisa-sim), the path of "
            "a VISA library, or left out for the system's",
        ),
        (
            "{resource: X, timeout: 0}",
            34,
            "devices.dmm.visa.timeout: input should be greater than 0",
            "seconds to wait for a whole reply, such as 2",
        ),
        (
            "{library: '@py'}",
            5,
            "devices.dmm.visa: 'resource' is required",
            "a VISA resource such as USB0::0x2A8D::0x0101::MY57700001::INSTR",
        ),
    ],
)
def test_a_bad_visa_setting_points_at_its_value_or_a_missing_one_at_visa(
    visa, column, message, hint
):
    text = f"devices:\n  dmm:\n    driver: scpi.dmm\n    visa: {visa}\n"
    assert only_problem(text) == (4, column, message, hint)


def test_serial_and_visa_together_point_at_visa():
    assert only_problem(PUMP + "    visa: USB0::1::INSTR\n") == (
        5,
        5,
        "devices.pump: a device has one connection: serial: or visa:, not both",
        "remove one of them",
    )


def test_a_simulator_setting_on_a_visa_device_points_at_it():
    text = "devices:\n  dmm:\n    driver: scpi.dmm\n    visa: X\n    simulator: pty\n"
    assert only_problem(text) == (
        5,
        5,
        "devices.dmm: simulator: is for serial devices",
        "a VISA device is simulated by its driver's pyvisa-sim file; remove simulator:",
    )


def test_an_unknown_simulator():
    assert only_problem(PUMP + "    simulator: socket\n") == (
        5,
        16,
        "devices.pump.simulator: input should be 'pty' or 'tcp'",
        "pty serves a simulated device on a pseudo-terminal, tcp on a local port",
    )


@pytest.mark.parametrize("written", ["yes", "on", "1", "'true'"])
def test_io_log_takes_only_yaml_1_2_booleans(written):
    assert only_problem(PUMP + f"    io_log: {written}\n") == (
        5,
        13,
        "devices.pump.io_log: input should be a valid boolean",
        "write true or false",
    )


def test_options_must_be_a_mapping():
    assert only_problem(PUMP + "    options: [1, 2]\n") == (
        5,
        14,
        "devices.pump.options: must be a mapping, got a list",
        "options: is a mapping of the driver's options",
    )


def test_a_device_left_empty_points_at_its_name():
    assert only_problem("devices:\n  pump:\n  dmm: {driver: a.b}\n") == (
        2,
        3,
        "devices.pump: must be a mapping, got nothing",
        "a device is a mapping with driver: and serial: or visa:",
    )


def test_a_device_written_as_text():
    assert only_problem("devices:\n  pump: syringe.ne1000\n") == (
        2,
        9,
        "devices.pump: must be a mapping, got 'syringe.ne1000'",
        "a device is a mapping with driver: and serial: or visa:",
    )


def test_devices_written_as_a_list():
    assert only_problem("devices:\n  - pump\n  - dmm\n") == (
        2,
        3,
        "devices: must be a mapping, got a list",
        "devices: maps each device's name to its driver and connection",
    )


@pytest.mark.parametrize(
    ("text", "got"), [("- pump\n- dmm\n", "a list"), ("pump\n", "'pump'"), ("12\n", "'12'")]
)
def test_a_file_that_is_not_a_mapping(text, got):
    assert only_problem(text) == (
        1,
        1,
        f"the configuration must be a mapping with devices:, got {got}",
        "start the file with devices: and one device per key under it",
    )


def test_a_duplicate_device_points_at_the_second():
    text = "devices:\n  pump: {driver: a.b}\n  dmm: {driver: a.b}\n  pump: {driver: a.c}\n"
    assert only_problem(text) == (4, 3, "duplicate key 'pump'", "'pump' is first given at line 2")


def test_a_duplicate_key_inside_a_device():
    text = PUMP + "    serial: COM3\n"
    assert only_problem(text) == (
        5,
        5,
        "duplicate key 'serial'",
        "'serial' is first given at line 4",
    )


def test_a_tab_in_the_indentation():
    assert only_problem("devices:\n\tpump:\n    driver: a.b\n") == (
        2,
        1,
        "tab character in indentation",
        "YAML indents with spaces only; replace the tab with spaces",
    )


def test_a_yaml_syntax_error_is_a_problem_not_a_traceback():
    line, column, message, _ = only_problem("devices: {pump: {driver: a.b}\n")
    assert (line, column) == (2, 1)
    assert message.startswith("invalid YAML: while parsing a flow mapping")


def test_bad_indentation():
    line, column, message, _ = only_problem("devices:\n  pump:\n    driver: a.b\n   serial: x\n")
    assert (line, column) == (4, 4)
    assert message.startswith("bad indentation")


def test_a_python_tag_is_refused():
    text = PUMP + "    options: {x: !!python/object:os.system echo}\n"
    line, column, message, hint = only_problem(text)
    assert (line, column) == (5, 18)
    assert message == "unsupported tag tag:yaml.org,2002:python/object:os.system"
    assert hint == "write plain YAML values"


def test_a_value_the_reader_rejects_is_reported_once():
    text = "devices:\n  pump:\n    driver: !plugin syringe.ne1000\n"
    assert only_problem(text) == (3, 13, "unsupported tag !plugin", "write plain YAML values")


def test_merge_keys_are_refused():
    text = "devices:\n  pump: &p {driver: a.b}\n  dmm: {<<: *p}\n"
    found = problems(text)
    assert (3, 9, "merge keys (<<) are not supported; write the keys out", None) in found


def test_options_nested_too_deep():
    nested = "{a: " * 40 + "1" + "}" * 40
    line, column, message, _ = only_problem(PUMP + f"    options: {nested}\n")
    # The 33rd level is the value of the 30th `a`, the 31st `{` on the line.
    assert (line, column) == (5, len("    options: ") + 4 * 30 + 1)
    assert message == f"devices.pump.options{'.a' * 30} is nested more than 32 levels deep"


def test_aliases_that_expand_past_the_node_budget():
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 8):
        below = f"*a{level - 1}"
        text += f"a{level}: &a{level} [{', '.join([below] * 10)}]\n"
    line, column, message, _ = only_problem(text)
    assert (line, column) == (1, 1)
    assert message == "the file is too large: more than 100000 YAML nodes once aliases expand"


def test_every_problem_is_reported_in_file_order():
    text = (
        "devices:\n"
        "  pump:\n"
        "    driver: nope\n"
        "    serial: {port: COM3, baudrate: 0}\n"
        "  bad-name: {driver: a.b}\n"
        "  dmm: {driver: a.b, io_log: yes}\n"
    )
    assert [(line, column) for line, column, _, _ in problems(text)] == [
        (3, 13),
        (4, 36),
        (5, 3),
        (6, 30),
    ]


# --- where the file is ----------------------------------------------------------------


@pytest.fixture
def default(tmp_path, monkeypatch):
    """The default location, under tmp_path: never the real home."""
    directory = tmp_path / "config-home" / "labrun"
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda appname: str(directory))
    return directory / "config.yml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_with(driver: str) -> str:
    return f"devices:\n  pump:\n    driver: {driver}\n"


def test_the_default_location_is_config_yml_in_the_user_config_directory(default):
    assert default_config_path() == default


def test_without_the_default_file_no_device_is_configured(default):
    config = load_config(env={})
    assert config == HostConfig({}, str(default), None)
    assert not default.exists()


def test_the_default_file_is_read_when_nothing_else_is_given(default):
    write(default, config_with("from.default"))
    config = load_config(env={})
    assert config.devices["pump"].driver == "from.default"
    assert config.path == default
    assert config.source == str(default)


def test_the_environment_variable_overrides_the_default(default, tmp_path):
    write(default, config_with("from.default"))
    chosen = write(tmp_path / "env.yml", config_with("from.env"))
    config = load_config(env={"LABRUN_CONFIG": str(chosen)})
    assert config.devices["pump"].driver == "from.env"
    assert config.path == chosen


def test_an_empty_environment_variable_counts_as_unset(default):
    write(default, config_with("from.default"))
    assert load_config(env={"LABRUN_CONFIG": ""}).devices["pump"].driver == "from.default"


def test_an_explicit_file_overrides_the_environment(default, tmp_path):
    write(default, config_with("from.default"))
    env = write(tmp_path / "env.yml", config_with("from.env"))
    explicit = write(tmp_path / "explicit.yml", config_with("from.explicit"))
    config = load_config(explicit, env={"LABRUN_CONFIG": str(env)})
    assert config.devices["pump"].driver == "from.explicit"
    assert config.path == explicit


def test_the_process_environment_is_read_when_none_is_given(default, tmp_path, monkeypatch):
    chosen = write(tmp_path / "env.yml", config_with("from.env"))
    monkeypatch.setenv("LABRUN_CONFIG", str(chosen))
    assert load_config().devices["pump"].driver == "from.env"


def test_a_home_directory_is_expanded(default, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "lab.yml", config_with("from.home"))
    assert load_config(Path("~/lab.yml"), env={}).devices["pump"].driver == "from.home"
    assert load_config(env={"LABRUN_CONFIG": "~/lab.yml"}).devices["pump"].driver == "from.home"


def test_a_missing_explicit_file_is_an_error(default, tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as raised:
        load_config(missing, env={})
    assert raised.value.render() == (
        f"{missing}: error: the file does not exist\n"
        "  hint: it was given with --config; check the path"
    )


def test_a_missing_file_named_by_the_environment_is_an_error(default, tmp_path):
    write(default, config_with("from.default"))
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as raised:
        load_config(env={"LABRUN_CONFIG": str(missing)})
    [problem] = raised.value.problems
    assert (problem.file, problem.line, problem.message, problem.hint) == (
        str(missing),
        0,
        "the file does not exist",
        "it was given by $LABRUN_CONFIG; check the path",
    )


def test_a_directory_is_not_a_configuration(default, tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, env={})
    [problem] = raised.value.problems
    assert (problem.line, problem.message) == (0, "cannot read the file: Is a directory")


def test_a_file_that_is_not_utf8_points_at_the_first_bad_byte(default, tmp_path):
    path = tmp_path / "config.yml"
    path.write_bytes(b"devices:\n  pump: {driver: a.b, options: {name: caf\xe9}}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    [problem] = raised.value.problems
    assert (problem.file, problem.line, problem.column) == (str(path), 2, 42)
    assert problem.message == "the file is not UTF-8 text: byte 0xe9 cannot be decoded"
    assert problem.hint == "save the file with the UTF-8 encoding"


def test_problems_in_a_loaded_file_name_the_file(default, tmp_path):
    path = write(tmp_path / "bench.yml", config_with("nope"))
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    assert raised.value.render().startswith(f"{path}:3:13: error: devices.pump.driver: ")


def test_a_pyvisa_sim_file_is_relative_to_the_loaded_file(default, tmp_path):
    path = write(
        tmp_path / "lab" / "config.yml",
        "devices:\n  dmm: {driver: scpi.dmm, visa: {resource: X, library: bench.yaml@sim}}\n",
    )
    visa = load_config(path, env={}).devices["dmm"].visa
    assert visa is not None
    assert visa.library == f"{tmp_path / 'lab' / 'bench.yaml'}@sim"


# --- driver options, validated once the driver is known -------------------------------


class PumpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diameter: Annotated[Length, Bounds(gt="0 mm")]
    address: int = Field(0, ge=0, le=99)


OPTIONS = """\
devices:
  pump:
    driver: syringe.ne1000
    serial: /dev/ttyUSB0
    options:
      address: {address}
      diameter: {diameter}
"""


def options_problem(text: str, model: type[BaseModel] = PumpOptions):
    config = parse_config(text, "config.yml")
    with pytest.raises(ConfigError) as raised:
        config.validate_options("pump", model)
    [problem] = raised.value.problems
    return problem


def test_good_options_validate_into_the_drivers_model():
    config = parse_config(OPTIONS.format(address=3, diameter="14.5 mm"), "config.yml")
    options = config.validate_options("pump", PumpOptions)
    assert options.address == 3
    assert str(options.diameter) == "14.5 millimeter"


def test_a_bad_option_points_at_its_value():
    problem = options_problem(OPTIONS.format(address=3, diameter="-2 mm"))
    assert problem.render() == (
        "config.yml:7:17: error: devices.pump.options.diameter: -2 mm must be above 0 mm\n"
        "          diameter: -2 mm\n"
        "                    ^"
    )


def test_an_option_out_of_range():
    problem = options_problem(OPTIONS.format(address=100, diameter="14.5 mm"))
    assert (problem.line, problem.column, problem.message) == (
        6,
        16,
        "devices.pump.options.address: input should be less than or equal to 99",
    )
    assert problem.hint is None


def test_an_unknown_option_points_at_its_key_and_lists_the_options():
    text = PUMP + "    options: {diameter: 14.5 mm, adress: 1}\n"
    problem = options_problem(text)
    assert (problem.line, problem.column, problem.message, problem.hint) == (
        5,
        34,
        "devices.pump.options: unknown key 'adress'",
        "did you mean address? allowed keys: diameter, address",
    )


def test_a_missing_option_points_at_options():
    problem = options_problem(PUMP + "    options: {address: 1}\n")
    assert (problem.line, problem.column, problem.message) == (
        5,
        5,
        "devices.pump.options: 'diameter' is required",
    )


def test_a_missing_option_without_options_points_at_the_device():
    problem = options_problem(PUMP)
    assert (problem.line, problem.column, problem.message) == (
        2,
        3,
        "devices.pump.options: 'diameter' is required",
    )


def test_options_given_to_a_driver_that_takes_none():
    class NoOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")

    problem = options_problem(PUMP + "    options: {speed: 2}\n", NoOptions)
    assert (problem.line, problem.column, problem.message, problem.hint) == (
        5,
        15,
        "devices.pump.options: unknown key 'speed'",
        "no keys are allowed here",
    )


def test_an_options_model_that_raises_anything_else_is_a_placed_problem():
    class Fragile(BaseModel):
        x: int = 0

        @field_validator("x")
        @classmethod
        def _boom(cls, value: int) -> int:
            raise RuntimeError("plugin bug")

    problem = options_problem(PUMP + "    options: {x: 1}\n", Fragile)
    assert (problem.line, problem.column, problem.message) == (
        5,
        14,
        "devices.pump.options: the driver's options raised RuntimeError: plugin bug",
    )


def test_the_bench_places_its_own_problems_on_the_file():
    config = parse_config(PUMP, "config.yml")
    on_driver = config.problem(("devices", "pump", "driver"), "unknown driver 'syringe.ne1000'")
    assert (on_driver.line, on_driver.column) == (3, 13)
    on_device = config.problem(("devices", "pump"), "device pump has no connection", key=True)
    assert (on_device.line, on_device.column) == (2, 3)
    unwritten = config.problem(("devices", "pump", "visa"), "needs visa:")
    assert (unwritten.line, unwritten.column) == (2, 3)
    assert unwritten.source_line == "  pump:"


def test_a_problem_in_an_empty_configuration_is_about_the_whole_file(default):
    config = load_config(env={})
    problem = config.problem(("devices", "pump"), "no device pump is configured")
    assert (problem.file, problem.line) == (str(default), 0)
