"""Crash safety: `labrun run` killed with SIGKILL at random moments, then `labrun resume`.

Each trial runs the real command in a subprocess, kills it, and checks that no run is lost,
the database is intact, the events stored reach up to the last 100 ms before the kill
(the events file the run wrote at the same time is the witness), and the run resumes and
completes. SIGTERM and SIGINT get their own tests: interrupted (exit 3) and halted (exit 1).
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from labrun.event import Event, EventType
from labrun.run.projection import RunView
from labrun.run.state import RunState
from labrun.store import DATABASE_NAME, RunStore

TRIALS = 20
PROTOCOL = """
name: crash
steps:
  - repeat: 30
    id: loop
    steps:
      - timer.wait: 0.05 s
        id: wait
      - parallel:
          - timer.wait: 0.02 s
          - timer.wait: 0.03 s
  - timer.wait: 0.05 s
    id: last
"""


def labrun(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LABRUN_DATA_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "labrun", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def stored_events(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


def start_and_wait_for_events(directory: Path) -> tuple[subprocess.Popen, Path]:
    protocol = directory / "crash.yaml"
    protocol.write_text(PROTOCOL)
    data = directory / "data"
    process = labrun(
        "run", str(protocol), "--data-dir", str(data), "--events", str(directory / "events")
    )
    database = data / DATABASE_NAME
    deadline = time.monotonic() + 60
    while stored_events(database) == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run recorded nothing in 60 s"
        time.sleep(0.01)
    return process, data


def trial(directory: Path, seed: int) -> dict:
    """One run killed at a random moment, checked, resumed and checked again."""
    process, data = start_and_wait_for_events(directory)
    time.sleep(random.Random(seed).uniform(0, 2.5))
    process.send_signal(signal.SIGKILL)
    process.communicate()
    database = data / DATABASE_NAME
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with RunStore.open(database, readonly=True) as store:
        (summary,) = store.list_runs()
        events = list(store.events(summary.id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    witnessed = [
        Event.from_json(line)
        for line in (directory / "events").read_text().splitlines()
        if line.endswith("}")
    ]
    if witnessed:
        cutoff = witnessed[-1].time - timedelta(milliseconds=100)
        assert all(e.seq <= len(events) for e in witnessed if e.time < cutoff)
    finished = bool(events) and events[-1].payload.get("state") == "completed"
    resumed = labrun("resume", summary.id, "--data-dir", str(data))
    out, err = resumed.communicate(timeout=120)
    assert "Traceback" not in out + err
    if finished and events[-1].step == "":
        # Killed after its last event and before its final record: resume completes it.
        assert resumed.returncode == 0, err
        return {"events": len(events), "resumed": False}
    assert resumed.returncode == 0, out + err
    assert f"run {summary.id} was interrupted" in out or f"resuming run {summary.id}" in out
    with RunStore.open(database, readonly=True) as store:
        record = store.get_run(summary.id)
        after = list(store.events(summary.id))
    assert record.status is RunState.COMPLETED
    assert [e.seq for e in after] == list(range(1, len(after) + 1))
    assert after[: len(events)] == events
    view = RunView()
    for event in after:
        view.apply(event)
    assert view.state is RunState.COMPLETED
    assert view.steps["0"].state == "completed"
    assert view.steps["1"].state == "completed"
    loops = [e for e in after if e.step == "0" and e.type is EventType.LOCATION]
    assert loops[-1].payload["location"]["iteration"] == 29
    return {"events": len(events), "resumed": True}


def test_runs_killed_at_random_moments_are_never_lost_and_always_resume(tmp_path):
    directories = [tmp_path / f"trial-{n}" for n in range(TRIALS)]
    for directory in directories:
        directory.mkdir()
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(trial, directories, range(TRIALS)))
    assert len(results) == TRIALS
    # The kills fell at different moments of the runs.
    assert len({r["events"] for r in results}) > TRIALS // 2


def test_sigterm_leaves_the_run_interrupted_to_resume(tmp_path):
    process, data = start_and_wait_for_events(tmp_path)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 3, out + err
    with RunStore.open(data / DATABASE_NAME, readonly=True) as store:
        (summary,) = store.list_runs()
    assert summary.status is RunState.INTERRUPTED
    assert f"labrun: run {summary.id} is interrupted; `labrun resume {summary.id}`" in out
    resumed = labrun("resume", summary.id, "--data-dir", str(data))
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out + err


def test_ctrl_c_without_a_terminal_halts_the_run(tmp_path):
    process, data = start_and_wait_for_events(tmp_path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out + err
    assert "labrun: interrupted: halting the run" in out
    with RunStore.open(data / DATABASE_NAME, readonly=True) as store:
        (summary,) = store.list_runs()
    assert summary.status is RunState.HALTED
