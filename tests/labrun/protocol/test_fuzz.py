"""Fuzzing: generated documents and mutated example files never make the compiler raise.

More than 10,000 cases in all, derandomized so that every run checks the same ones.
"""

import json
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab_plugin import lab

from labrun import PluginCatalog
from labrun.protocol import CompileResult, compile
from labrun_prompt import plugin as prompt
from labrun_timer import plugin as timer

ROOT = Path(__file__).parents[3]
CATALOG = PluginCatalog.of(lab, timer, prompt)


def cases(count: int) -> settings:
    return settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def examples() -> list[str]:
    texts = [path.read_text() for path in sorted((ROOT / "protocols").glob("*.yml"))]
    docs = (ROOT / "docs" / "protocols.md").read_text()
    texts.extend(re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL))
    return texts


EXAMPLES = examples()

KEYS = [
    "name",
    "id",
    "description",
    "steps",
    "parallel",
    "repeat",
    "sweep",
    "values",
    "on_error",
    "timeout",
    "parameters",
    "devices",
    "type",
    "unit",
    "default",
    "min",
    "max",
    "choices",
    "retry",
    "backoff",
    "duration",
    "target",
    "hold",
    "text",
    "n",
    "message",
    "volume",
    "lab.wait",
    "lab.heat",
    "lab.note",
    "lab.count",
    "lab.spin",
    "lab.broken",
    "lab.dispense",
    "timer.wait",
    "prompt.ask",
    "temp",
    "t",
    "x",
    "<<",
    "tmer.wait",
]
TEXTS = [
    "10 min",
    "5 ml",
    "37 degC",
    "20 degC to 40 degC by 5 degC",
    "1 to 3 by 1",
    "5 to 1 by 1",
    "${temp}",
    "${t}",
    "${x}",
    "${n} s",
    "$${",
    "${",
    "${a + 1}",
    "int",
    "float",
    "str",
    "bool",
    "degC",
    "ml",
    "pause",
    "skip",
    "halt",
    "retry",
    "0 s",
    "-5 s",
    "1e999 s",
    "nan s",
    "",
]
SCALARS = (
    st.sampled_from(TEXTS)
    | st.text(max_size=8)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=10,
)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "name": SCALARS,
        "parameters": st.dictionaries(
            st.sampled_from(["temp", "t", "n", "x", "2x"]), VALUES, max_size=3
        ),
        "devices": VALUES,
        "steps": st.lists(VALUES, max_size=6),
    },
)


def check(result: CompileResult) -> None:
    assert isinstance(result, CompileResult)
    for diagnostic in result.diagnostics:
        assert "internal error" not in diagnostic.message, diagnostic.render()
        diagnostic.render()
        json.dumps(diagnostic.to_json())
    assert result.ok == (result.protocol is not None)
    assert result.ok == (not result.errors)
    if result.protocol is not None:
        for step in result.protocol.walk():
            assert step.estimate is None or step.estimate >= 0


@cases(2000)
@given(DOCUMENTS)
def test_generated_documents(document):
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    check(compile("fuzz.yml", text=text, catalog=CATALOG))


TOKENS = [
    ":",
    "-",
    " ",
    "  ",
    "\t",
    "\n",
    "[",
    "]",
    "{",
    "}",
    "${",
    "}",
    "&a ",
    "*a",
    "!!",
    "#",
    "'",
    '"',
    "x",
    "\x00",
    "\udcff",
    "lab.wait: 1 s",
    "10 min",
    "steps:",
    "repeat: 2",
]


@st.composite
def mutations(draw):
    text = draw(st.sampled_from(EXAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "swap", "duplicate", "truncate"]))
        position = draw(st.integers(0, len(text)))
        if kind == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 20)) :]
        elif kind == "insert":
            text = (
                text[:position]
                + draw(st.sampled_from(TOKENS) | st.text(max_size=3))
                + text[position:]
            )
        elif kind == "truncate":
            text = text[:position]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "\n".join(lines)
    return text


@cases(7000)
@given(mutations())
def test_mutated_examples(text):
    check(compile("mutant.yml", text=text, catalog=CATALOG))


@cases(1000)
@given(st.binary(max_size=200) | st.sampled_from(EXAMPLES).map(str.encode).map(lambda b: b[::-1]))
def test_bytes(data):
    check(compile("bytes.yml", text=data, catalog=CATALOG))
