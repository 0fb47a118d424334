"""A small plugin of test processes, so these tests do not depend on the built-in ones,
and helpers to compile a text with it. (Not a conftest.py: test modules import it by name,
and several test folders have a conftest.)"""

from __future__ import annotations

from textwrap import dedent
from typing import Annotated, Any

from pydantic import BaseModel, Field

from labrun import (
    FlowRate,
    Plugin,
    PluginCatalog,
    ProcessContext,
    Quantity,
    QuantityType,
    Remaining,
    Time,
    Volume,
)
from labrun.protocol import CompileResult, compile

lab = Plugin("lab", description="Test processes.")


class WaitArgs(BaseModel):
    duration: Time


class DispenseArgs(BaseModel):
    volume: Volume
    rate: FlowRate = Field(default="1 ml/min", validate_default=True)


class NoteArgs(BaseModel):
    text: str


class HeatArgs(BaseModel):
    target: Annotated[Quantity, QuantityType("[temperature]", ge="4 degC", le="100 degC")]
    hold: Time


class CountArgs(BaseModel):
    n: int = Field(ge=0, le=10)
    label: str = "count"


class NoArgs(BaseModel):
    pass


@lab.process("wait", estimate=lambda data: data.duration)
async def wait(data: WaitArgs, context: ProcessContext[WaitArgs]) -> None:
    await context.sleep(data.duration)


@lab.process("dispense", estimate=lambda data: data.volume / data.rate)
async def dispense(data: DispenseArgs, context: ProcessContext[DispenseArgs]) -> None:
    await context.checkpoint()


@lab.process("note")
async def note(data: NoteArgs, context: ProcessContext[NoteArgs]) -> None:
    await context.checkpoint()


@lab.process("heat", estimate=lambda data: data.hold)
async def heat(data: HeatArgs, context: ProcessContext[HeatArgs]) -> None:
    await context.checkpoint()


@lab.process("count", estimate=lambda data: data.n)
async def count(data: CountArgs, context: ProcessContext[CountArgs]) -> None:
    await context.checkpoint()


@lab.process("spin", estimate=lambda data: Remaining.FOREVER)
async def spin(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    await context.checkpoint()


@lab.process("broken", estimate=lambda data: 1 / 0)
async def broken(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    await context.checkpoint()


CATALOG = PluginCatalog.of(lab)


def build(text: str, **options: Any) -> CompileResult:
    """Compile `text` (dedented) as p.yml with the test plugin."""
    options.setdefault("catalog", CATALOG)
    return compile("p.yml", text=dedent(text).lstrip("\n"), **options)


def first_lines(result: CompileResult) -> list[str]:
    """The first line of each diagnostic: `file:line:col: severity: message`."""
    return [d.render().split("\n", 1)[0] for d in result.diagnostics]


def hints(result: CompileResult) -> list[str | None]:
    return [d.hint for d in result.diagnostics]
