"""The text and JSON forms of diagnostics."""

from labrun.protocol import Diagnostic, Severity
from labrun.protocol.diagnostic import render_all


def test_text_form_has_the_source_line_a_caret_and_the_hint():
    diagnostic = Diagnostic(
        "p.yml",
        3,
        5,
        Severity.ERROR,
        "unknown process 'tmer.wait'",
        "did you mean timer.wait?",
        "  - tmer.wait: 10 min",
    )
    assert diagnostic.render() == (
        "p.yml:3:5: error: unknown process 'tmer.wait'\n"
        "      - tmer.wait: 10 min\n"
        "        ^\n"
        "  hint: did you mean timer.wait?"
    )


def test_the_caret_keeps_tabs_so_it_lands_under_the_column():
    diagnostic = Diagnostic("p.yml", 1, 3, Severity.WARNING, "here", None, "\tx: 1")
    assert diagnostic.render().split("\n")[1:] == ["    \tx: 1", "    \t ^"]


def test_a_diagnostic_about_the_whole_file_has_no_position():
    diagnostic = Diagnostic("p.yml", 0, 0, Severity.ERROR, "cannot read the file: Is a directory")
    assert diagnostic.render() == "p.yml: error: cannot read the file: Is a directory"


def test_json_form_has_every_field():
    diagnostic = Diagnostic("p.yml", 2, 5, Severity.WARNING, "m", "h", "line")
    assert diagnostic.to_json() == {
        "file": "p.yml",
        "line": 2,
        "column": 5,
        "severity": "warning",
        "message": "m",
        "hint": "h",
        "source_line": "line",
    }
    assert not diagnostic.is_error


def test_render_all_joins_diagnostics():
    one = Diagnostic("a", 1, 1, Severity.ERROR, "one")
    two = Diagnostic("a", 2, 1, Severity.ERROR, "two")
    assert render_all([one, two]) == "a:1:1: error: one\na:2:1: error: two"
