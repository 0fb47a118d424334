"""docs/instruments.md: every example runs here, so that the page cannot drift from the code.

Fenced blocks, by language:
- yaml: a host configuration when its top level has the one key `devices`, each device a
  mapping: it parses with `parse_config`, every driver it names is installed, and the
  options validate against that driver's `Options`. A protocol when its top level has
  `steps`: it compiles with no diagnostic. Anything else fails.
- sh: every line is a `labrun ...` command. The commands of a block run in order through
  `labrun.cli.main`, in a sandbox of their own: the working directory and the data
  directory are temporary, there is no host configuration but the files the page writes
  there, and no terminal. Each must exit with the code of its `# exit N` comment, or 0. A
  `run`, `resume` or `devices` command without `--simulate` or `--dry-run` may only name
  serial ports inside the sandbox, so that no example ever opens an instrument. The word
  `RUN_ID` stands for the id of the latest run recorded in the sandbox.
- text: the output of the last command of the sh block just before it (standard output,
  then standard error), line for line, where a line `...` stands for any number of lines.
A block in any other language fails, so that no example goes unchecked.

An HTML comment on the line just before a yaml block's fence says more of it:
`<!-- file: NAME -->` writes the block to NAME in the sandbox of every sh block after it
(a later block of the same NAME replaces it), and `<!-- invalid; file: NAME -->` marks an
example that is wrong on purpose: it must fail to parse, validate or compile.

The reference part of the page is checked against the plugins: under each heading
``#### Driver `plugin.driver` `` the table of values lists the driver's values (unit, how
they are read, whether they can be written) and the table of options its options; under
each ``#### Process `plugin.process` `` the table of arguments lists its arguments, the
required ones marked so. Every driver and process of the instrument plugins has its heading.
"""

import io
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from labrun import DeviceValue, NoOptions, PluginCatalog, compile, load_plugins
from labrun.cli import main
from labrun.device.config import ConfigError, HostConfig, default_config_path, parse_config
from labrun.store import DATABASE_NAME, RunStore

PAGE = Path(__file__).parents[2] / "docs" / "instruments.md"
LANGUAGES = {"yaml", "sh", "text"}
INSTRUMENT_PLUGINS = ("syringe", "tempmodule", "scpi", "record")

MARKER = re.compile(r"^<!--(?P<body>.*)-->\s*$")
EXIT = re.compile(r"#\s*exit\s+(?P<code>\d+)\s*$")
DEVICE_COMMANDS = {"run", "resume", "devices"}
SIMULATED = {"--simulate", "--dry-run"}


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # the page's line number of the block's first line of text
    file: str | None = None
    invalid: bool = False

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @property
    def where(self) -> str:
        return f"instruments.md:{self.line}"


def read_marker(line: str, number: int) -> tuple[str | None, bool]:
    """The file name and the `invalid` flag of the HTML comment `line`, if it is one."""
    match = MARKER.match(line.strip())
    if match is None:
        return None, False
    file, invalid = None, False
    for part in filter(None, (p.strip() for p in match["body"].split(";"))):
        if part == "invalid":
            invalid = True
        elif part.startswith("file:") and part.removeprefix("file:").strip():
            file = part.removeprefix("file:").strip()
        else:
            raise AssertionError(f"instruments.md:{number}: unknown marker {part!r}")
    return file, invalid


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of `page`, with the marker just before each; fences at column 0."""
    blocks: list[Block] = []
    language: str | None = None
    start, previous = 0, ""
    body: list[str] = []
    marker: tuple[str | None, bool] = (None, False)
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if language is None:
            if line.startswith("```"):
                language, start, body = line[3:].strip(), number + 1, []
                marker = read_marker(previous, number - 1)
            elif line.lstrip().startswith("```"):
                raise AssertionError(f"{page.name}:{number}: indented fence, not checked")
            previous = line
        elif line.rstrip() == "```":
            text = "".join(f"{item}\n" for item in body)
            blocks.append(Block(language, text, start, *marker))
            language, previous = None, line
        else:
            body.append(line)
    if language is not None:
        raise AssertionError(f"{page.name}:{start - 1}: unclosed fence")
    return blocks


BLOCKS = read_blocks(PAGE)


def of_language(language: str) -> list[Block]:
    return [block for block in BLOCKS if block.language == language]


@pytest.fixture(scope="module")
def catalog() -> PluginCatalog:
    return load_plugins()


def test_every_block_is_checked() -> None:
    assert of_language("sh"), "the page has no shell examples"
    for index, block in enumerate(BLOCKS):
        assert block.language in LANGUAGES, f"{block.where}: {block.language!r} is not checked"
        if block.language == "text":
            before = BLOCKS[index - 1].language if index else None
            assert before == "sh", f"{block.where}: a text block must follow an sh block"
        if block.language != "yaml":
            assert block.file is None, f"{block.where}: only a yaml block can be a file"
            assert not block.invalid, f"{block.where}: only a yaml block can be invalid"


# The yaml blocks.


def kind(block: Block) -> str:
    document = yaml.safe_load(block.text)
    if isinstance(document, dict) and "steps" in document:
        return "protocol"
    if (
        isinstance(document, dict)
        and set(document) == {"devices"}
        and isinstance(document["devices"], dict)
        and all(isinstance(device, dict) for device in document["devices"].values())
    ):
        return "config"
    raise AssertionError(
        f"{block.where}: a yaml block is a host configuration (devices: alone, each device a "
        "mapping) or a protocol (with steps:)"
    )


def configuration(block: Block, catalog: PluginCatalog) -> HostConfig:
    """The configuration in `block`, its drivers installed and its options valid."""
    config = parse_config(block.text, block.file or "config.yml")
    problems = []
    for name, device in config.devices.items():
        driver = catalog.driver(device.driver)
        if driver is None:
            problems.append(config.problem(("devices", name, "driver"), "not installed"))
            continue
        try:
            config.validate_options(name, driver.Options)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return config


@pytest.mark.parametrize(
    "block", [b for b in of_language("yaml") if not b.invalid], ids=lambda b: b.where
)
def test_yaml_example_is_valid(block: Block, catalog: PluginCatalog) -> None:
    if kind(block) == "config":
        try:
            config = configuration(block, catalog)
        except ConfigError as error:
            raise AssertionError(f"{block.where}: {error.render()}") from None
        assert config.devices, f"{block.where}: the configuration declares no device"
    else:
        result = compile(block.file or "protocol.yml", text=block.text, catalog=catalog)
        shown = "\n".join(d.render() for d in result.diagnostics)
        assert not result.diagnostics, f"{block.where}: the protocol does not compile\n{shown}"


@pytest.mark.parametrize(
    "block", [b for b in of_language("yaml") if b.invalid], ids=lambda b: b.where
)
def test_wrong_on_purpose_example_is_refused(block: Block, catalog: PluginCatalog) -> None:
    if kind(block) == "config":
        with pytest.raises(ConfigError):
            configuration(block, catalog)
    else:
        result = compile(block.file or "protocol.yml", text=block.text, catalog=catalog)
        assert result.errors, f"{block.where}: compiles, though marked invalid"


# The sh blocks and their output.


@dataclass(frozen=True)
class Command:
    argv: list[str]
    exit_code: int
    line: int

    def __str__(self) -> str:
        return f"instruments.md:{self.line}: labrun {shlex.join(self.argv)}"


@dataclass(frozen=True)
class Session:
    """An sh block: its commands, the files written before it, the output shown after it."""

    block: Block
    commands: list[Command]
    files: dict[str, str] = field(default_factory=dict)
    output: Block | None = None

    def __str__(self) -> str:
        return f"{self.block.where}: {self.commands[-1].argv[0]}"


def sessions() -> list[Session]:
    found = []
    files: dict[str, str] = {}
    for index, block in enumerate(BLOCKS):
        if block.language == "yaml" and block.file is not None:
            files[block.file] = block.text
        if block.language != "sh":
            continue
        following = BLOCKS[index + 1 : index + 2]
        output = following[0] if following and following[0].language == "text" else None
        commands = []
        for number, line in enumerate(block.lines, block.line):
            if not line.strip():
                continue
            words = shlex.split(line, comments=True)
            if not words or words[0] != "labrun":
                raise AssertionError(f"instruments.md:{number}: not a labrun command: {line}")
            code = EXIT.search(line)
            commands.append(Command(words[1:], int(code["code"]) if code else 0, number))
        assert commands, f"{block.where}: an empty sh block"
        found.append(Session(block, commands, dict(files), output))
    return found


@dataclass
class Sandbox:
    work: Path
    data: Path


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A working directory, a data directory and a home of their own: no configuration
    is found but the files the page writes."""
    work, data, home = tmp_path / "work", tmp_path / "data", tmp_path / "home"
    for directory in (work, data, home):
        directory.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("LABRUN_CONFIG", raising=False)
    monkeypatch.setenv("LABRUN_DATA_DIR", str(data))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to answer prompts
    assert default_config_path().is_relative_to(home)
    return Sandbox(work, data)


def latest_run(sandbox: Sandbox) -> str:
    with RunStore.open(sandbox.data / DATABASE_NAME, readonly=True) as store:
        runs = store.list_runs(limit=1)
    assert runs, "RUN_ID: no run is recorded in the sandbox yet"
    return runs[0].id


def config_of(argv: list[str]) -> Path | None:
    for index, word in enumerate(argv):
        if word == "--config":
            return Path(argv[index + 1])
        if word.startswith("--config="):
            return Path(word.removeprefix("--config="))
    return None


def check_no_instrument(command: Command, sandbox: Sandbox) -> None:
    """A command that opens devices for real may only reach ports inside the sandbox."""
    if command.argv[0] not in DEVICE_COMMANDS or SIMULATED & set(command.argv):
        return
    path = config_of(command.argv)
    if path is None or not path.exists():
        return
    try:
        config = parse_config(path.read_text(), str(path))
    except ConfigError:
        return  # labrun refuses it before it opens anything
    for name, device in config.devices.items():
        assert device.visa is None, f"{command}: it would open the VISA device {name}"
        if device.serial is not None:
            port = (sandbox.work / device.serial.port).resolve()
            assert port.is_relative_to(sandbox.work), f"{command}: it would open {name}'s port"


def expect_output(expected: Block, output: str) -> None:
    pattern = "".join(
        r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in expected.lines
    )
    actual = "".join(f"{line.rstrip()}\n" for line in output.splitlines())
    assert re.fullmatch(pattern, actual), (
        f"{expected.where}: the output differs from the page\n"
        f"--- page\n{expected.text}--- actual\n{actual}"
    )


@pytest.mark.parametrize("session", sessions(), ids=str)
def test_shell_example(
    session: Session, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, text in session.files.items():
        path = sandbox.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    out = err = ""
    for command in session.commands:
        check_no_instrument(command, sandbox)
        argv = [latest_run(sandbox) if word == "RUN_ID" else word for word in command.argv]
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == command.exit_code, f"{command} exited {code}\n{out}{err}"
    if session.output is not None:
        expect_output(session.output, out + err)


# The reference: tables against the plugins' declarations.


HEADING = re.compile(r"^#### (?P<what>Driver|Process) `(?P<name>[a-z0-9_]+\.[a-z0-9_]+)`\s*$")


@dataclass
class Section:
    name: str
    line: int
    tables: dict[str, list[list[str]]] = field(default_factory=dict)


def reference() -> dict[tuple[str, str], Section]:
    """Each `#### Driver`/`#### Process` section, with its tables by their first header."""
    sections: dict[tuple[str, str], Section] = {}
    current: Section | None = None
    table: list[list[str]] | None = None
    for number, line in enumerate(PAGE.read_text(encoding="utf-8").splitlines(), 1):
        heading = HEADING.match(line)
        if heading is not None:
            current = Section(heading["name"], number)
            key = (heading["what"], heading["name"])
            assert key not in sections, f"instruments.md:{number}: {key} twice"
            sections[key] = current
            table = None
        elif line.startswith("#"):
            current = table = None
        elif current is not None and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if table is None:
                table = current.tables.setdefault(cells[0], [])
            elif not set("".join(cells)) <= set("-: "):
                table.append(cells)
        else:
            table = None
    return sections


def code(cell: str) -> str:
    """The name in a cell written `name`."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected a name in backquotes, got {cell!r}"
    return match[1]


def how_read(value: DeviceValue) -> str:
    return "on demand" if value.poll is None else f"polled every {value.poll:g} s"


def instrument_catalog(catalog: PluginCatalog) -> list[Any]:
    return [catalog.plugins[name] for name in INSTRUMENT_PLUGINS]


def test_every_driver_and_process_has_its_section(catalog: PluginCatalog) -> None:
    documented = set(reference())
    for plugin in instrument_catalog(catalog):
        for name in plugin.drivers:
            assert ("Driver", f"{plugin.namespace}.{name}") in documented
        for name in plugin.processes:
            assert ("Process", f"{plugin.namespace}.{name}") in documented


def driver_sections() -> list[Section]:
    return [s for (what, _), s in reference().items() if what == "Driver"]


def process_sections() -> list[Section]:
    return [s for (what, _), s in reference().items() if what == "Process"]


@pytest.mark.parametrize("section", driver_sections(), ids=lambda s: s.name)
def test_driver_values_and_options_are_the_drivers(
    section: Section, catalog: PluginCatalog
) -> None:
    driver = catalog.driver(section.name)
    assert driver is not None, f"instruments.md:{section.line}: no driver {section.name}"
    rows = section.tables.get("value", [])
    shown = [(code(r[0]), r[1], r[2], r[3]) for r in rows]
    declared = [
        (v.name, v.unit or "", how_read(v), "yes" if v.writable else "no") for v in driver.values
    ]
    assert shown == declared, f"instruments.md:{section.line}: the values of {section.name}"
    options: type[BaseModel] = driver.Options
    documented = [code(row[0]) for row in section.tables.get("option", [])]
    fields = [] if options is NoOptions else list(options.model_fields)
    assert documented == fields, f"instruments.md:{section.line}: the options of {section.name}"


@pytest.mark.parametrize("section", process_sections(), ids=lambda s: s.name)
def test_process_arguments_are_the_processes(section: Section, catalog: PluginCatalog) -> None:
    spec = catalog.process(section.name)
    assert spec is not None, f"instruments.md:{section.line}: no process {section.name}"
    rows = section.tables.get("argument", [])
    shown = [(code(row[0]), row[-1] == "required") for row in rows]
    declared = [(name, f.is_required()) for name, f in spec.args_model.model_fields.items()]
    assert shown == declared, f"instruments.md:{section.line}: the arguments of {section.name}"
