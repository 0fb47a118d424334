"""A tiny instrument made for the device layer's tests: a lamp on a serial line, its driver,
its simulator and processes that use it, so that these tests depend on no real plugin.

Not a conftest.py: test modules in several folders import it by name (tests/labrun is on
the path through its conftest.py).

The wire protocol: commands end with CR, replies with LF.

    ID?        -> LAMP-1 SN42
    ON / OFF   -> OK
    ON?        -> 1 or 0
    LVL?       -> the power in watts, such as 12.5
    LVL 12.5   -> OK
    anything else -> ERR
A burnt-out bulb answers every command with ALARM BURNT.
"""

from __future__ import annotations

from textwrap import dedent
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from labrun import (
    FINISH,
    Clock,
    DeviceRef,
    DeviceValue,
    Plugin,
    PluginCatalog,
    ProcessContext,
    SerialDriver,
    SerialSettings,
    SerialSimulator,
    registry,
)

ANSWER_TIMEOUT = 0.3
SETTINGS = SerialSettings(baudrate=9600, timeout=ANSWER_TIMEOUT)


class LampSimulator(SerialSimulator):
    terminator: ClassVar[bytes] = b"\r"

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.on = False
        self.level = 10.0
        self.burnt = False
        self.identity = b"LAMP-1 SN42"

    def burn_out(self) -> None:
        self.burnt = True

    def respond(self, command: bytes) -> bytes:
        if self.burnt:
            return b"ALARM BURNT\n"
        if command == b"ID?":
            return self.identity + b"\n"
        if command == b"ON":
            self.on = True
            return b"OK\n"
        if command == b"OFF":
            self.on = False
            return b"OK\n"
        if command == b"ON?":
            return b"1\n" if self.on else b"0\n"
        if command == b"LVL?":
            return f"{self.level:g}\n".encode()
        if command.startswith(b"LVL "):
            try:
                self.level = float(command[4:])
            except ValueError:
                return b"ERR\n"
            return b"OK\n"
        return b"ERR\n"


class LampOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_level: float = Field(100.0, gt=0)


class Lamp(SerialDriver):
    Options = LampOptions
    values = (
        DeviceValue("on", description="whether the lamp is lit"),
        DeviceValue("level", unit="W", poll=0.02, writable=True, description="power"),
    )
    serial = SETTINGS
    simulator = LampSimulator

    async def ask(self, text: str) -> str:
        command = text.encode() + b"\r"
        reply = await self.link.exchange(command, until=b"\n")
        answer = reply.decode("latin-1").strip()
        if answer.startswith("ALARM"):
            raise self.fault("the bulb is burnt out", command=command, reply=reply, alarm=True)
        if answer == "ERR":
            raise self.fault("the lamp refused the command", command=command, reply=reply)
        return answer

    async def identify(self) -> str:
        command = b"ID?\r"
        reply = await self.link.exchange(command, until=b"\n")
        identity = reply.decode("latin-1").strip()
        if not identity.startswith("LAMP-"):
            raise self.fault("this is not a lamp", command=command, reply=reply)
        return identity

    async def read(self, value: str) -> Any:
        if value == "on":
            return await self.ask("ON?") == "1"
        if value == "level":
            answer = await self.ask("LVL?")
            try:
                watts = float(answer)
            except ValueError:
                raise self.fault(
                    "the level is not a number", command=b"LVL?\r", reply=answer
                ) from None
            return registry().Quantity(watts, "W")
        return await super().read(value)

    async def write(self, value: str, setting: Any) -> None:
        if value != "level":
            await super().write(value, setting)
            return
        await self.ask(f"LVL {float(setting):g}")

    async def turn_on(self) -> None:
        await self.ask("ON")

    async def turn_off(self) -> None:
        await self.ask("OFF")

    async def safe_state(self) -> None:
        await self.turn_off()


class Dimmer(Lamp):
    """A lamp whose hold action turns it off while a step using it is paused."""

    async def hold(self) -> None:
        await self.turn_off()


plugin = Plugin("lamp", description="A lamp, for the device layer's tests.")
plugin.driver("lamp")(Lamp)
plugin.driver("dimmer")(Dimmer)


class ShineArgs(BaseModel):
    lamp: Annotated[str, DeviceRef("lamp.lamp")]
    seconds: float = 10.0
    fail: bool = False


@plugin.process("shine", estimate=lambda data: data.seconds)
async def shine(data: ShineArgs, context: ProcessContext[ShineArgs]) -> bool:
    """Lights the lamp for `seconds`, then turns it off; `fail` fails it while lit."""
    lamp = context.device(data.lamp, Lamp)
    await lamp.turn_on()
    await context.sleep(data.seconds)
    if data.fail:
        raise RuntimeError("the sample caught fire")
    await lamp.turn_off()
    return True


class GlowArgs(BaseModel):
    lamp: Annotated[str, DeviceRef()]
    seconds: float = 10.0


@plugin.process("glow", estimate=lambda data: data.seconds)
async def glow(data: GlowArgs, context: ProcessContext[GlowArgs]) -> None:
    """Lights the lamp for `seconds`, then turns it off; a pause takes it at once, and the
    lamp is left as it is (the device's hold action sees to it)."""
    lamp = context.device(data.lamp, Lamp)
    context.pausable = True
    await lamp.turn_on()
    await context.wait(context.sleep(data.seconds))
    await lamp.turn_off()


class ShineAllArgs(BaseModel):
    lamps: Annotated[list[str], DeviceRef("lamp.lamp")]
    seconds: float = 10.0


@plugin.process("shine_all", estimate=lambda data: data.seconds)
async def shine_all(data: ShineAllArgs, context: ProcessContext[ShineAllArgs]) -> int:
    """Lights every lamp for `seconds`, and leaves them lit."""
    for name in data.lamps:
        await context.device(name, Lamp).turn_on()
    await context.sleep(data.seconds)
    return len(data.lamps)


class WatchArgs(BaseModel):
    lamp: Annotated[str, DeviceRef("lamp.lamp", shared=True)]


@plugin.process("watch", background=True)
async def watch(data: WatchArgs, context: ProcessContext[WatchArgs]) -> dict[str, Any]:
    """Reads the lamp beside the steps that use it, until told to finish."""
    lamp = context.device(data.lamp, Lamp)
    first = await lamp.read("on")
    message = await context.receive()
    return {"first": first, "message": message, "finish": message == FINISH}


class AnyLampArgs(BaseModel):
    # Accepts any driver: whatever the protocol maps the name to.
    lamp: Annotated[str, DeviceRef()]


@plugin.process("blink")
async def blink(data: AnyLampArgs, context: ProcessContext[AnyLampArgs]) -> str:
    return type(context.device(data.lamp)).__name__


class OtherArgs(BaseModel):
    lamp: Annotated[str, DeviceRef("other.bulb")]


@plugin.process("dim")
async def dim(data: OtherArgs, context: ProcessContext[OtherArgs]) -> None:
    """Needs a driver no plugin here has: for drivers that conflict."""


CATALOG = PluginCatalog.of(plugin)


# A pyvisa-sim file for a VISA meter with one settable level, for the VISA link and bench tests.
METER_SIMULATION = dedent(
    """\
    spec: "1.1"
    devices:
      meter:
        eom:
          TCPIP INSTR:
            q: "\\n"
            r: "\\n"
        dialogues:
          - q: "*IDN?"
            r: "ACME,METER,1,0.1"
        properties:
          level:
            default: 1.5
            getter:
              q: "LVL?"
              r: "{:.1f}"
            setter:
              q: "LVL {:.1f}"
            specs:
              type: float
    resources:
      TCPIP::10.0.0.1::INSTR:
        device: meter
    """
)
