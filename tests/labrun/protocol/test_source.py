"""Reading files and YAML: every way a file can fail to be a YAML text is a diagnostic."""

from pathlib import Path

from lab_plugin import CATALOG, build, first_lines, hints

from labrun.protocol import compile
from labrun.protocol.source import MAX_YAML_DEPTH


def test_a_file_that_is_not_utf8_is_reported_at_the_first_bad_byte(tmp_path: Path):
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"name: caf\xe9\nsteps: []\n")
    result = compile(path, catalog=CATALOG)
    (diagnostic,) = result.diagnostics
    assert diagnostic.render() == (
        f"{path}:1:10: error: the file is not UTF-8 text: byte 0xe9 cannot be decoded\n"
        "    name: caf\ufffd\n"
        "             ^\n"
        "  hint: save the file with the UTF-8 encoding"
    )
    assert result.protocol is None


def test_a_byte_order_mark_is_accepted():
    result = compile("p.yml", text="\ufeffsteps:\n  - lab.wait: 1 s\n".encode(), catalog=CATALOG)
    assert result.ok, result.diagnostics


def test_a_file_that_cannot_be_read_is_a_diagnostic(tmp_path: Path):
    result = compile(tmp_path / "missing.yml", catalog=CATALOG)
    assert first_lines(result) == [
        f"{tmp_path / 'missing.yml'}: error: cannot read the file: No such file or directory"
    ]


def test_tabs_in_indentation_are_reported_on_every_line():
    result = build("steps:\n\t- lab.wait: 1 s\n  - lab.wait: 2 s\n\t- lab.wait: 3 s\n")
    assert first_lines(result) == [
        "p.yml:2:1: error: tab character in indentation",
        "p.yml:4:1: error: tab character in indentation",
    ]
    assert hints(result)[0] == "YAML indents with spaces only; replace the tab with spaces"


def test_a_list_item_out_of_line_is_bad_indentation():
    result = build("steps:\n  - lab.wait: 1 s\n   - lab.wait: 2 s\n")
    assert first_lines(result) == [
        "p.yml:3:4: error: bad indentation: this list item does not line up with the list "
        "that starts at line 2"
    ]
    assert hints(result) == ["items of one list, and keys of one mapping, start in the same column"]


def test_a_key_out_of_line_is_bad_indentation():
    result = build("steps:\n  - lab.wait:\n      duration: 1 s\n     name: x\n")
    assert first_lines(result) == [
        "p.yml:4:6: error: bad indentation: this key does not line up with the mapping "
        "that starts at line 2"
    ]


def test_a_key_indented_under_a_value_is_reported():
    result = build("name: x\n  steps: []\n")
    assert first_lines(result) == [
        "p.yml:2:8: error: bad indentation or a stray ':': a mapping value is not allowed here"
    ]


def test_a_file_that_is_not_yaml():
    result = build("steps: [lab.wait, {\n")
    assert first_lines(result) == [
        "p.yml:2:1: error: invalid YAML: while parsing a flow node: "
        "expected the node content, but found '<stream end>'"
    ]


def test_binary_junk_is_not_a_yaml_text():
    result = compile("p.yml", text=b"steps:\x00\x01\x02", catalog=CATALOG)
    assert first_lines(result) == [
        "p.yml:1:7: error: not a YAML text: the character U+0000 is not allowed"
    ]


def test_a_second_document_is_refused():
    result = build("steps:\n  - lab.wait: 1 s\n---\nsteps: []\n")
    assert first_lines(result) == [
        "p.yml:3:1: error: a protocol file holds one YAML document; a second one starts here"
    ]


def test_deep_nesting_is_refused_without_composing_it():
    depth = 100_000
    result = build("steps: " + "[" * depth + "]" * depth + "\n")
    assert first_lines(result) == [
        f"p.yml:1:1: error: the document is nested more than {MAX_YAML_DEPTH} levels deep"
    ]


def test_an_undefined_alias():
    result = build("steps:\n  - *nothing\n")
    assert first_lines(result) == [
        "p.yml:2:5: error: invalid YAML: found undefined alias 'nothing'"
    ]
