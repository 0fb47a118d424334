"""The device layer: the cost of one command through labrun against raw I/O, and values
polled per second on a bench of 20 simulated devices.

1. Serial: one command round trip to a simulated NE-1000 pump on a pty, through labrun
   (`SerialLink.exchange`, the driver's `identify()`, a device's `read()`) against raw
   pyserial (blocking `write` + `read_until`) and raw pyserial-asyncio-fast streams. Each
   client has a simulator of its own, answering from a thread with its own event loop, so
   that the blocking client gets its answers and every client meets the same far end.
2. VISA: `*IDN?` (and `SENS:FUNC?` + `READ?`) on the pyvisa-sim multimeter of the scpi
   plugin, through labrun (`VisaLink.query`, the driver's `identify()`, a device's `read()`)
   against raw pyvisa `inst.query`, blocking and in an executor.
3. A bench of 10 NE-1000 pumps and 10 Temperature Modules, simulated on ptys in the host's
   event loop, polling every declared value at its interval: readings per second against
   the rate the intervals ask for, CPU per reading and event-loop lag, against raw streams
   polling simulators of the same kinds, served the same way, with the same commands; then
   every device reading back to back, as fast as the simulators answer.

Wall time is what a round trip costs a process waiting on a device (it is I/O bound); CPU
time is of the client's own thread for serial (the simulator's thread left out), of the
whole process for VISA (pyvisa-sim runs in the caller's thread, labrun's in an executor).

    uv run python benchmarks/bench_devices.py [--round-trips N] [--rounds R] [--seconds S]
        [--bursts B] [--only serial|visa|bench]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib.resources import as_file
from typing import Any

import pyvisa
import serial
import serial_asyncio_fast

from _devices import (
    Cost,
    LoopLag,
    SimulatorThread,
    awaited,
    blocking,
    interleaved,
)
from labrun import PluginCatalog, RealClock, SerialLink, SerialSimulator, SimulatorServer, VisaLink
from labrun.device.bench import Bench, BenchListener
from labrun.device.config import parse_config
from labrun.device.device import Device, DeviceState
from labrun_scpi import Keysight34465A
from labrun_syringe import Ne1000, Ne1000Simulator
from labrun_syringe import plugin as syringe_plugin
from labrun_tempmodule import TempModule
from labrun_tempmodule import plugin as tempmodule_plugin

# The frames the drivers send, and how their replies end.
NE1000_VERSION = b"0VER\r"
NE1000_DISPENSED = b"0DIS\r"
NE1000_END = b"\x03"
TEMPMODULE_STATUS = b"M105\r\n\r\n"
TEMPMODULE_END = b"ok\r\nok\r\n"

TARGET = 1.2  # labrun / raw, wall time per round trip


def row(label: str, cost: Cost) -> str:
    return f"  {label:<52}{cost.wall * 1e6:9.1f}{cost.cpu * 1e6:9.1f}"


def ratio(label: str, labrun: Cost, raw: Cost) -> str:
    return (
        f"  {label:<52}{labrun.wall / raw.wall:9.2f}{labrun.cpu / raw.cpu:9.2f}"
        f"   (target <= {TARGET})"
    )


# 1. Serial.


def pyserial_line(url: str) -> serial.Serial:
    settings = Ne1000.serial
    line = serial.Serial(url, baudrate=settings.baudrate, timeout=settings.timeout)
    line.write(NE1000_VERSION)
    reply = line.read_until(NE1000_END)
    if not reply.endswith(NE1000_END):
        raise SystemExit(f"pyserial: no whole reply to {NE1000_VERSION!r}: {reply!r}")
    return line


def pyserial_exchange(line: serial.Serial, command: bytes) -> bytes:
    line.write(command)
    return line.read_until(NE1000_END)


async def streams_exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: bytes
) -> bytes:
    writer.write(command)
    await writer.drain()
    return await reader.readuntil(NE1000_END)


async def streams_exchange_within(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: bytes
) -> bytes:
    """The raw exchange with a timeout on the reply, as any client needs lest a silent
    device hang it."""
    writer.write(command)
    await writer.drain()
    async with asyncio.timeout(Ne1000.serial.timeout):
        return await reader.readuntil(NE1000_END)


async def pump_device(url: str, clock: RealClock) -> Device:
    link = SerialLink("pump", url, Ne1000.serial, clock)
    device = Device("pump", "syringe.ne1000", Ne1000("pump", Ne1000.Options(), link, clock), clock)
    await device.open()
    if device.state is not DeviceState.READY:
        raise SystemExit(f"the simulated pump is not ready: {device.error}")
    return device


async def serial_round_trips(count: int, rounds: int) -> None:
    clock = RealClock()
    cpu = time.thread_time
    # A simulator each for the blocking line, the raw streams and labrun: two connections
    # open on one pty would take each other's replies.
    with (
        SimulatorThread(Ne1000Simulator(clock), "pyserial") as for_pyserial,
        SimulatorThread(Ne1000Simulator(clock), "streams") as for_streams,
        SimulatorThread(Ne1000Simulator(clock), "labrun") as for_labrun,
    ):
        line = pyserial_line(for_pyserial.url)
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=for_streams.url, baudrate=Ne1000.serial.baudrate
        )
        device = await pump_device(for_labrun.url, clock)
        link: SerialLink = device.link
        variants = {
            # Blocking, in the loop's own thread: nothing else runs in this loop meanwhile.
            "pyserial VER": blocking(partial(pyserial_exchange, line, NE1000_VERSION), count, cpu),
            "streams VER": awaited(
                partial(streams_exchange, reader, writer, NE1000_VERSION), count, cpu
            ),
            "streams+timeout VER": awaited(
                partial(streams_exchange_within, reader, writer, NE1000_VERSION), count, cpu
            ),
            "link VER": awaited(
                partial(link.exchange, NE1000_VERSION, until=NE1000_END), count, cpu
            ),
            "identify VER": awaited(device.driver.identify, count, cpu),
            "streams DIS": awaited(
                partial(streams_exchange, reader, writer, NE1000_DISPENSED), count, cpu
            ),
            "read DIS": awaited(partial(device.read, "infused"), count, cpu),
        }
        try:
            best = await interleaved(variants, rounds)
        finally:
            await device.close()
            writer.close()
            line.close()

    print(f"1. serial: one command to a simulated NE-1000 on a pty, best of {rounds} x {count}")
    print(f"  {'per round trip (CPU of this thread)':<52}{'wall µs':>9}{'CPU µs':>9}")
    print(row("VER  raw pyserial, blocking write + read_until", best["pyserial VER"]))
    print(row("VER  raw pyserial-asyncio-fast streams", best["streams VER"]))
    print(row("VER  raw streams, the reply under asyncio.timeout", best["streams+timeout VER"]))
    print(row("VER  labrun SerialLink.exchange", best["link VER"]))
    print(row("VER  labrun Ne1000.identify() (parsed, checked)", best["identify VER"]))
    print(row("DIS  raw pyserial-asyncio-fast streams", best["streams DIS"]))
    print(row('DIS  labrun Device.read("infused") (a quantity)', best["read DIS"]))
    print(f"  {'ratio labrun / raw':<52}{'wall':>9}{'CPU':>9}")
    print(ratio("SerialLink.exchange / streams", best["link VER"], best["streams VER"]))
    print(
        ratio(
            "SerialLink.exchange / streams with a timeout",
            best["link VER"],
            best["streams+timeout VER"],
        )
    )
    print(ratio("SerialLink.exchange / blocking pyserial", best["link VER"], best["pyserial VER"]))
    print(ratio("Ne1000.identify() / streams", best["identify VER"], best["streams VER"]))
    print(ratio('Device.read("infused") / streams', best["read DIS"], best["streams DIS"]))


# 2. VISA.


def read_voltage(instrument: Any) -> str:
    # The driver's two queries: that the meter measures DC voltage, then a reading.
    instrument.query("SENS:FUNC?")
    reply: str = instrument.query("READ?")
    return reply


async def read_voltage_in(executor: ThreadPoolExecutor, instrument: Any) -> str:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(executor, instrument.query, "SENS:FUNC?")
    reply: str = await loop.run_in_executor(executor, instrument.query, "READ?")
    return reply


async def visa_round_trips(count: int, rounds: int) -> None:
    clock = RealClock()
    settings = Keysight34465A.visa
    simulation = Keysight34465A.simulation
    assert simulation is not None
    cpu = time.process_time
    loop = asyncio.get_running_loop()
    with as_file(simulation.file) as path, ThreadPoolExecutor(1) as pool:
        library = f"{path}@sim"
        instrument: Any = pyvisa.ResourceManager(library).open_resource(
            simulation.resource,
            read_termination=settings.read_termination,
            write_termination=settings.write_termination,
            timeout=int(settings.timeout * 1000),
        )
        link = VisaLink("dmm", simulation.resource, library, settings, clock)
        driver = Keysight34465A("dmm", Keysight34465A.Options(), link, clock)
        device = Device("dmm", "scpi.dmm", driver, clock)
        await device.open()
        if device.state is not DeviceState.READY:
            raise SystemExit(f"the simulated multimeter is not ready: {device.error}")
        # One worker thread, as VisaLink has.
        in_executor = partial(loop.run_in_executor, pool, instrument.query, "*IDN?")
        variants = {
            "pyvisa IDN": blocking(partial(instrument.query, "*IDN?"), count, cpu),
            "executor IDN": awaited(in_executor, count, cpu),
            "link IDN": awaited(partial(link.query, "*IDN?"), count, cpu),
            "identify IDN": awaited(driver.identify, count, cpu),
            "pyvisa READ": blocking(partial(read_voltage, instrument), count, cpu),
            "executor READ": awaited(partial(read_voltage_in, pool, instrument), count, cpu),
            "read READ": awaited(partial(device.read, "voltage"), count, cpu),
        }
        try:
            best = await interleaved(variants, rounds)
        finally:
            await device.close()
            instrument.close()

    print(f"2. VISA: the pyvisa-sim multimeter of the scpi plugin, best of {rounds} x {count}")
    print(f"  {'per query (CPU of the whole process)':<52}{'wall µs':>9}{'CPU µs':>9}")
    print(row("*IDN?  raw pyvisa inst.query, blocking", best["pyvisa IDN"]))
    print(row("*IDN?  raw pyvisa inst.query in an executor", best["executor IDN"]))
    print(row("*IDN?  labrun VisaLink.query", best["link IDN"]))
    print(row("*IDN?  labrun Keysight34465A.identify()", best["identify IDN"]))
    print(row("FUNC? READ?  raw pyvisa inst.query, blocking", best["pyvisa READ"]))
    print(row("FUNC? READ?  raw pyvisa inst.query in an executor", best["executor READ"]))
    print(row('FUNC? READ?  labrun Device.read("voltage")', best["read READ"]))
    print(f"  {'ratio labrun / raw':<52}{'wall':>9}{'CPU':>9}")
    print(ratio("VisaLink.query / blocking pyvisa", best["link IDN"], best["pyvisa IDN"]))
    print(ratio("VisaLink.query / pyvisa in an executor", best["link IDN"], best["executor IDN"]))
    print(ratio("Keysight34465A.identify() / blocking", best["identify IDN"], best["pyvisa IDN"]))
    print(ratio('Device.read("voltage") / blocking', best["read READ"], best["pyvisa READ"]))
    print(
        ratio('Device.read("voltage") / in an executor', best["read READ"], best["executor READ"])
    )


# 3. A bench of 20 devices.

PUMPS = 10
MODULES = 10


def bench_config(pumps: int, modules: int) -> str:
    lines = ["devices:"]
    lines += [f"  pump{index:02d}: {{driver: syringe.ne1000}}" for index in range(pumps)]
    lines += [f"  block{index:02d}: {{driver: tempmodule.gen2}}" for index in range(modules)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Polled:
    """What one kind of device polls, and the raw exchange that reads each value."""

    simulator: type[SerialSimulator]
    reads: tuple[tuple[bytes, bytes, float], ...]  # command, end of reply, interval


def polled(driver: type[Ne1000] | type[TempModule]) -> Polled:
    command, end = (
        (NE1000_DISPENSED, NE1000_END) if driver is Ne1000 else (TEMPMODULE_STATUS, TEMPMODULE_END)
    )
    simulator = driver.simulator
    assert simulator is not None
    # Every polled value of both drivers is read with one status command.
    return Polled(simulator, tuple((command, end, v.poll) for v in driver.values if v.poll))


@dataclass(frozen=True)
class Rate:
    readings: int
    seconds: float
    cpu: float  # seconds of process CPU over the window
    lag: str

    @property
    def per_second(self) -> float:
        return self.readings / self.seconds

    @property
    def cpu_per_reading(self) -> float:
        return self.cpu / self.readings if self.readings else float("nan")


async def window(count: Callable[[], int], seconds: float, *, lag: bool = True) -> Rate:
    meter = LoopLag()
    if lag:
        meter.start()
    readings, wall, cpu = count(), time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    rate = Rate(
        count() - readings,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        meter.summary() if lag else "",
    )
    await meter.stop()
    return rate


async def labrun_bench(
    pumps: int, modules: int, seconds: float, *, poll: bool, settle: float
) -> tuple[Rate, float]:
    """Readings per second of a labrun bench polling (or, with `poll` False, of every
    device reading its polled values back to back), and the rate its intervals ask for."""
    catalog = PluginCatalog.of(syringe_plugin, tempmodule_plugin)
    bench = Bench.build(
        parse_config(bench_config(pumps, modules)), catalog, clock=RealClock(), simulate=True
    )
    readings = 0

    def counted(*_: object) -> None:
        nonlocal readings
        readings += 1

    bench.listen(BenchListener(value=counted))
    await bench.start(poll=poll)
    expected = 0.0
    tasks: list[asyncio.Task[None]] = []
    try:
        for device in bench.devices.values():
            if device.state is not DeviceState.READY:
                raise SystemExit(f"device {device.name} is not ready: {device.error}")
            names = [v.name for v in device.driver.values if v.poll]
            expected += sum(1 / v.poll for v in device.driver.values if v.poll)
            if not poll:
                tasks.append(asyncio.create_task(read_forever(device, names)))
        await asyncio.sleep(settle)
        rate = await window(lambda: readings, seconds, lag=poll)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bench.stop()
    return rate, expected


async def read_forever(device: Device, names: list[str]) -> None:
    while True:
        for name in names:
            await device.read(name)


async def raw_bench(pumps: int, modules: int, seconds: float, *, poll: bool, settle: float) -> Rate:
    """The same as `labrun_bench` with raw streams to simulators of the same kinds, served
    in this loop as the host serves them, and replies that are not parsed."""
    clock = RealClock()
    kinds = [polled(Ne1000)] * pumps + [polled(TempModule)] * modules
    servers = [
        SimulatorServer(kind.simulator(clock), line="pty", name=f"device{index:02d}")
        for index, kind in enumerate(kinds)
    ]
    readings = 0

    def counted() -> None:
        nonlocal readings
        readings += 1

    tasks: list[asyncio.Task[None]] = []
    try:
        for server in servers:
            await server.start()
        for server, kind in zip(servers, kinds, strict=True):
            reader, writer = await serial_asyncio_fast.open_serial_connection(url=server.url)
            poller = raw_poll(reader, writer, kind.reads, counted, poll=poll)
            tasks.append(asyncio.create_task(poller))
        await asyncio.sleep(settle)
        return await window(lambda: readings, seconds, lag=poll)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.stop()


async def raw_poll(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    reads: tuple[tuple[bytes, bytes, float], ...],
    counted: Callable[[], None],
    *,
    poll: bool,
) -> None:
    """Each read when it is due, as labrun's poller schedules them (or back to back)."""
    loop = asyncio.get_running_loop()
    due = [loop.time()] * len(reads)
    try:
        while True:
            now = loop.time()
            for index, (command, end, interval) in enumerate(reads):
                if due[index] <= now or not poll:
                    writer.write(command)
                    await writer.drain()
                    await reader.readuntil(end)
                    counted()
                    due[index] = now + interval
            if poll:
                await asyncio.sleep(max(0.0, min(due) - loop.time()))
    finally:
        writer.close()


async def bench_rates(seconds: float, bursts: int) -> None:
    pumps, modules = PUMPS, MODULES
    # Every device polls all its values in one burst per interval, all devices in step (their
    # pollers start together): a window of whole intervals that starts midway between two
    # bursts counts each burst once, whatever the jitter.
    period = max(v.poll for driver in (Ne1000, TempModule) for v in driver.values if v.poll)
    seconds = max(1, round(seconds / period)) * period
    settle = 1.5 * period
    labrun, expected = await labrun_bench(pumps, modules, seconds, poll=True, settle=settle)
    raw = await raw_bench(pumps, modules, seconds, poll=True, settle=settle)
    burst = 1.0
    labrun_bursts: list[Rate] = []
    raw_bursts: list[Rate] = []
    for _ in range(bursts):
        labrun_bursts.append((await labrun_bench(pumps, modules, burst, poll=False, settle=0.2))[0])
        raw_bursts.append(await raw_bench(pumps, modules, burst, poll=False, settle=0.2))
    fastest_labrun = max(labrun_bursts, key=lambda rate: rate.per_second)
    fastest_raw = max(raw_bursts, key=lambda rate: rate.per_second)

    print(
        f"3. a bench of {pumps} NE-1000 pumps and {modules} Temperature Modules, simulated on "
        f"ptys in the same loop, over {seconds:g} s"
    )
    print(f"  every declared value polled at its interval: {expected:g} readings/s asked")
    for label, rate in (("labrun Bench, start(poll=True)", labrun), ("raw streams", raw)):
        print(
            f"  {label:<32}{rate.per_second:9.1f} readings/s, achieved / asked "
            f"{rate.per_second / expected:.3f}, CPU {rate.cpu / rate.seconds:6.1%}, "
            f"{rate.cpu_per_reading * 1e6:6.0f} µs CPU per reading"
        )
        print(f"  {'':<32}event-loop lag: {rate.lag}")
    print(f"  every device reading back to back, best of {bursts} x {burst:g} s")
    for label, rate in (("labrun Device.read", fastest_labrun), ("raw streams", fastest_raw)):
        print(
            f"  {label:<32}{rate.per_second:9.0f} readings/s, "
            f"{rate.cpu_per_reading * 1e6:6.0f} µs CPU per reading (simulators included)"
        )
    print(
        f"  ratio labrun / raw streams, readings/s: "
        f"{fastest_labrun.per_second / fastest_raw.per_second:.2f}"
    )


PARTS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "serial": lambda args: serial_round_trips(args.round_trips, args.rounds),
    "visa": lambda args: visa_round_trips(args.round_trips, args.rounds),
    "bench": lambda args: bench_rates(args.seconds, args.bursts),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--round-trips", type=int, default=200, help="per round (1 and 2)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0, help="of polling (3)")
    parser.add_argument("--bursts", type=int, default=3, help="of reading back to back (3)")
    parser.add_argument("--only", choices=sorted(PARTS), action="append")
    args = parser.parse_args()
    gc.collect()
    for name in args.only or PARTS:
        asyncio.run(PARTS[name](args))
        print()


if __name__ == "__main__":
    main()
