"""Every protocol in protocols/ and every YAML example in docs/protocols.md compiles.

An example that shows a mistake starts with `# expect-error: <message>`, and must fail
with exactly that error.
"""

import re
from pathlib import Path

import pytest

from labrun import load_plugins
from labrun.protocol import compile

ROOT = Path(__file__).parents[3]
PROTOCOLS = sorted((ROOT / "protocols").glob("*.y*ml"))
DOCS = ROOT / "docs" / "protocols.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
EXPECT = re.compile(r"^# expect-error: (.*)$", re.MULTILINE)
CATALOG = load_plugins()


def test_there_are_examples():
    assert len(PROTOCOLS) >= 4
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda path: path.name)
def test_example_protocols_compile_cleanly(path: Path):
    result = compile(path, catalog=CATALOG)
    assert result.diagnostics == (), [d.render() for d in result.diagnostics]
    assert result.protocol is not None
    assert result.protocol.process_steps > 0


@pytest.mark.parametrize("block", BLOCKS, ids=[f"docs-{i}" for i in range(len(BLOCKS))])
def test_documented_examples_compile_as_documented(block: str):
    result = compile("docs/protocols.md", text=block, catalog=CATALOG)
    expected = EXPECT.findall(block)
    if expected:
        assert [d.message for d in result.errors] == expected
    else:
        assert result.diagnostics == (), [d.render() for d in result.diagnostics]
