"""kill -9 while events are written: the store opens intact and keeps all but the last moment.

Each trial runs a real process that writes events through an EventWriter from its event
loop as a host would, and after each write appends "seq monotonic-time" to a log file.
The log is a file rather than a pipe because a full pipe would stall the writer's loop
and let the writer thread catch up just before the kill, hiding losses. The process is
killed with SIGKILL at a random moment; its last log line is then a moment it was still
alive, by its own clock, so every event it logged 150 ms before that (the 100 ms promise
and room for a loaded machine's scheduling) must be in the store.
"""

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest

from labrun.store import RunStore

TRIALS = 20
# Children import labrun before the trials need them: the imports take far longer than a trial.
WARM = 4
WINDOW = 0.15

CHILD = r"""
import asyncio, os, random, sys, time
from datetime import UTC, datetime
from pathlib import Path

from labrun.event import Event, EventType
from labrun.store import RunRecord, RunStore

path, log, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
sys.stdin.readline()


async def main():
    store = RunStore.open(path)
    store.create_run(
        RunRecord(
            id="run", protocol_name="p", protocol_source="", protocol_snapshot=None,
            started_by="test", created=datetime.now(UTC),
        )
    )
    writer = store.writer("run")
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    rng = random.Random(seed)
    print("writing", flush=True)
    seq = 0
    while True:
        for _ in range(rng.randint(1, 50)):
            seq += 1
            payload = {"seq": seq, "pad": "x" * rng.randint(0, 300)}
            writer.write(Event(EventType.LOCATION, "step", seq, datetime.now(UTC), payload))
            os.write(out, b"%d %.6f\n" % (seq, time.monotonic()))
        await asyncio.sleep(rng.uniform(0, 0.002))


asyncio.run(main())
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def spawn(directory: Path, seed: int) -> subprocess.Popen[str]:
    directory.mkdir()
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(directory / "runs.sqlite3"),
            str(directory / "log"),
            str(seed),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def logged(path: Path) -> list[tuple[int, float]]:
    entries = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2:  # a line cut short by the kill says nothing
            entries.append((int(fields[0]), float(fields[1])))
    return entries


def test_a_killed_writer_leaves_an_intact_store_missing_only_its_last_moment(tmp_path):
    rng = random.Random(20260101)
    seeds = [rng.randrange(2**32) for _ in range(TRIALS)]
    warm = deque(spawn(tmp_path / str(i), seeds[i]) for i in range(min(WARM, TRIALS)))
    results = []
    for trial in range(TRIALS):
        child = warm.popleft()
        if trial + WARM < TRIALS:
            warm.append(spawn(tmp_path / str(trial + WARM), seeds[trial + WARM]))
        with child:
            assert child.stdin is not None
            assert child.stdout is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "writing\n"
            time.sleep(rng.uniform(0.02, 0.5))
            child.send_signal(signal.SIGKILL)
        assert child.returncode == -signal.SIGKILL

        directory = tmp_path / str(trial)
        with RunStore.open(directory / "runs.sqlite3") as store:
            seqs = [event.seq for event in store.events("run")]
        connection = sqlite3.connect(directory / "runs.sqlite3")
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        connection.close()

        stored = len(seqs)
        assert seqs == list(range(1, stored + 1)), f"trial {trial}: not a gap-free prefix"
        log = logged(directory / "log")
        last_seq, alive = log[-1]
        # The event after the last logged one may have been taken before the kill.
        assert stored <= last_seq + 1
        due = max((seq for seq, moment in log if moment <= alive - WINDOW), default=0)
        assert stored >= due, f"trial {trial}: lost event {stored + 1}, written >150 ms before"
        lost = [moment for seq, moment in log if seq > stored]
        results.append((last_seq, last_seq - stored, alive - lost[0] if lost else 0.0))

    print(
        f"\n{TRIALS} kill -9 trials: {min(r[0] for r in results)}-{max(r[0] for r in results)} "
        f"events written each; at most {max(r[1] for r in results)} events lost, "
        f"written at most {max(r[2] for r in results) * 1000:.1f} ms before the last sign of life"
    )
