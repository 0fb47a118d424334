"""Every example in docs/ runs here, so that the docs cannot drift from the code.

docs/plugins.md, by the language of each fenced block:
- python: the blocks run in order as one module, named after the module of the page's
  `labrun.plugins` entry point, so that a later block can import what an earlier one
  defined, as the page's test file does. Each `test_*` function they define then runs as a
  test of its own (without fixtures; awaited if async).
- toml: every block parses; exactly one declares `labrun.plugins` entry points, each naming a
  `Plugin` of that module whose namespace is the entry point's name.
- sh: every line is a `labrun ...` command. It runs through `labrun.cli.main`, with the
  page's entry points installed, and must exit with the code of its `# exit N` comment, or 0.
- text: the output of the last command of the sh block just before it. Its lines must match
  the command's output (standard output, then standard error) line for line, where a line
  `...` stands for any number of lines.
A block in any other language fails, so that no example goes unchecked.

docs/concepts.md: its one block is a Mermaid state diagram that must list exactly the
transitions of `labrun.state.TRANSITIONS`, entered from `[*]` at pending and left to `[*]`
from each final state.
"""

import ast
import functools
import inspect
import io
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

import pytest

from labrun import Plugin, RequestKind, StepState
from labrun import catalog as plugin_catalog
from labrun.catalog import GROUP
from labrun.cli import main
from labrun.request import RequestRefused, check_allowed
from labrun.state import FINAL_STATES, TRANSITIONS

DOCS = Path(__file__).parents[2] / "docs"
PLUGINS_PAGE = DOCS / "plugins.md"
CONCEPTS_PAGE = DOCS / "concepts.md"

PLUGINS_LANGUAGES = {"python", "toml", "sh", "text"}
EXIT = re.compile(r"#\s*exit\s+(?P<code>\d+)\s*$")
EDGE = re.compile(r"^\s*(?P<source>\S+)\s*-->\s*(?P<target>[^\s:]+)\s*(?::.*)?$")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # the page's line number of the block's first line of text

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of `page`; fences must start at column 0."""
    blocks: list[Block] = []
    language: str | None = None
    start, body = 0, []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if language is None:
            if line.startswith("```"):
                language, start, body = line[3:].strip(), number + 1, []
            elif line.lstrip().startswith("```"):
                raise AssertionError(f"{page.name}:{number}: indented fence, not checked")
        elif line.rstrip() == "```":
            blocks.append(Block(language, "".join(f"{text}\n" for text in body), start))
            language = None
        else:
            body.append(line)
    if language is not None:
        raise AssertionError(f"{page.name}:{start - 1}: unclosed fence")
    return blocks


PLUGINS_BLOCKS = read_blocks(PLUGINS_PAGE)


def of_language(language: str) -> list[Block]:
    return [block for block in PLUGINS_BLOCKS if block.language == language]


# The python blocks, run as one module.


def doc_test_names() -> list[str]:
    """The `test_*` functions the python blocks define, in order, found without running them."""
    names = []
    for block in of_language("python"):
        try:
            tree = ast.parse(block.text)
        except SyntaxError:
            continue  # test_python_blocks_run reports it, with the page's line number
        names += [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
        ]
    return names


@functools.cache
def entry_points() -> dict[str, str]:
    """The `labrun.plugins` entry points the page's pyproject.toml declares."""
    declared = [
        points
        for block in of_language("toml")
        if (points := tomllib.loads(block.text).get("project", {}).get("entry-points", {}))
        and GROUP in points
    ]
    assert len(declared) == 1, f"expected one toml block declaring {GROUP!r} entry points"
    found: dict[str, str] = declared[0][GROUP]
    assert found, f"the {GROUP!r} entry-point table is empty"
    return found


def module_name() -> str:
    names = {value.partition(":")[0] for value in entry_points().values()}
    assert len(names) == 1, f"the entry points name several modules: {sorted(names)}"
    return names.pop()


@pytest.fixture(scope="module")
def doc_module() -> Iterator[ModuleType]:
    """The python blocks run in order in one module, importable under its own name."""
    module = ModuleType(module_name())
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, module.__name__, module)
        for block in of_language("python"):
            # Padded so that tracebacks give the page's line numbers.
            source = "\n" * (block.line - 1) + block.text
            exec(compile(source, str(PLUGINS_PAGE), "exec"), module.__dict__)
        yield module


def test_python_blocks_run(doc_module: ModuleType) -> None:
    assert of_language("python"), "the page has no python examples"
    names = doc_test_names()
    assert names, "the page's python examples define no tests"
    assert len(names) == len(set(names)), "a doc test is defined twice"


@pytest.mark.parametrize("name", doc_test_names())
async def test_doc_example(name: str, doc_module: ModuleType) -> None:
    function = getattr(doc_module, name)
    assert not inspect.signature(function).parameters, f"{name} must take no fixtures"
    result = function()
    if inspect.isawaitable(result):
        await result


# The toml blocks.


def test_pyproject_declares_the_plugin_entry_point(doc_module: ModuleType) -> None:
    for name, value in entry_points().items():
        module, _, attribute = value.partition(":")
        assert module == doc_module.__name__
        plugin = getattr(doc_module, attribute)
        assert isinstance(plugin, Plugin)
        assert plugin.namespace == name
        assert plugin.problems == []


# The sh blocks and their output.


@dataclass(frozen=True)
class Command:
    argv: list[str]
    exit_code: int
    line: int
    output: Block | None

    def __str__(self) -> str:
        return f"plugins.md:{self.line}: labrun {shlex.join(self.argv)}"


def commands() -> list[Command]:
    found = []
    for index, block in enumerate(PLUGINS_BLOCKS):
        if block.language != "sh":
            continue
        following = PLUGINS_BLOCKS[index + 1 : index + 2]
        output = following[0] if following and following[0].language == "text" else None
        lines = [(block.line + n, line) for n, line in enumerate(block.lines) if line.strip()]
        for position, (number, line) in enumerate(lines, 1):
            words = shlex.split(line, comments=True)
            if not words or words[0] != "labrun":
                raise AssertionError(f"plugins.md:{number}: not a labrun command: {line}")
            exit_code = EXIT.search(line)
            found.append(
                Command(
                    argv=words[1:],
                    exit_code=int(exit_code["code"]) if exit_code else 0,
                    line=number,
                    output=output if position == len(lines) else None,
                )
            )
    return found


@pytest.fixture
def doc_plugins_installed(doc_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed entry points, plus the page's, as if its package were installed."""
    installed = plugin_catalog.entry_points
    extra = [EntryPoint(name, value, GROUP) for name, value in entry_points().items()]

    def with_the_page(*, group: str) -> list[EntryPoint]:
        return [*installed(group=group), *extra]

    monkeypatch.setattr(plugin_catalog, "entry_points", with_the_page)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to answer prompts


def expect_output(expected: Block, output: str) -> None:
    pattern = "".join(
        r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in expected.lines
    )
    actual = "".join(f"{line.rstrip()}\n" for line in output.splitlines())
    assert re.fullmatch(pattern, actual), (
        f"plugins.md:{expected.line}: the output differs from the page\n"
        f"--- page\n{expected.text}--- actual\n{actual}"
    )


@pytest.mark.parametrize("command", commands(), ids=str)
def test_shell_command(
    command: Command, doc_plugins_installed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(command.argv)
    out, err = capsys.readouterr()
    assert code == command.exit_code, f"{command} exited {code}\n{out}{err}"
    if command.output is not None:
        expect_output(command.output, out + err)


def test_every_block_is_checked() -> None:
    assert commands(), "the page has no shell examples"
    for index, block in enumerate(PLUGINS_BLOCKS):
        where = f"plugins.md:{block.line}"
        assert block.language in PLUGINS_LANGUAGES, f"{where}: {block.language!r} is not checked"
        if block.language == "text":
            before = PLUGINS_BLOCKS[index - 1].language if index else None
            assert before == "sh", f"{where}: a text block must follow an sh block"


# docs/concepts.md


def test_concepts_state_diagram_lists_exactly_the_transitions() -> None:
    blocks = read_blocks(CONCEPTS_PAGE)
    assert [block.language for block in blocks] == ["mermaid"]
    diagram = blocks[0].lines
    assert diagram[0].strip() == "stateDiagram-v2"
    edges: list[tuple[str, str]] = []
    for offset, line in enumerate(diagram[1:], blocks[0].line + 1):
        if "-->" in line:
            match = EDGE.match(line)
            assert match, f"concepts.md:{offset}: cannot read the transition {line.strip()!r}"
            edges.append((match["source"], match["target"]))
    assert len(edges) == len(set(edges)), "a transition is drawn twice"

    drawn = {(source, target) for source, target in edges if "[*]" not in (source, target)}
    expected = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert drawn == expected
    assert {target for source, target in edges if source == "[*]"} == {StepState.PENDING.value}
    assert {source for source, target in edges if target == "[*]"} == {
        state.value for state in FINAL_STATES
    }


def concepts_text() -> str:
    return CONCEPTS_PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize("state", list(StepState))
def test_concepts_explains_each_state(state: StepState) -> None:
    assert re.search(rf"^\| \*\*{state.value}\*\* \|", concepts_text(), re.MULTILINE)


@pytest.mark.parametrize("request_kind", list(RequestKind))
def test_concepts_explains_each_request(request_kind: RequestKind) -> None:
    assert re.search(rf"^### .*\b{request_kind.value}\b", concepts_text(), re.MULTILINE | re.I)


def test_concepts_quotes_a_real_refusal() -> None:
    with pytest.raises(RequestRefused) as refused:
        check_allowed(RequestKind.RESUME, StepState.RUNNING)
    assert f"> {refused.value}\n" in concepts_text()
