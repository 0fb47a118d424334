"""`labrun runs list|show|export|prune` on a data directory made for each test."""

import asyncio
import csv
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labrun.cli import main
from labrun.event import Event, EventType
from labrun.run.state import RunState
from labrun.state import StepState
from labrun.store import DATABASE_NAME, RunRecord, RunStore, StepResult

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch):
    """Times are shown in local time; make that UTC so the expected text is fixed."""
    monkeypatch.delenv("LABRUN_DATA_DIR", raising=False)
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


def record(run_id: str, **fields) -> RunRecord:
    values = {
        "id": run_id,
        "protocol_name": "pcr-setup",
        "protocol_source": "name: pcr-setup\n",
        "protocol_snapshot": {"name": "pcr-setup"},
        "parameters": {"cycles": 30},
        "started_by": "alice",
        "status": RunState.COMPLETED,
        "created": START,
    }
    return RunRecord(**(values | fields))


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


PCR_EVENTS = [
    Event(EventType.STATE, "mix", 1, at(0.1), {"state": "running", "previous": "pending"}),
    Event(
        EventType.DIAGNOSTIC,
        "mix",
        2,
        at(3),
        {"level": "warning", "message": "temperature drifted by 0.4 K"},
    ),
    Event(
        EventType.REQUEST, "mix", 3, at(4), {"request": "pause", "by": "bob", "mode": "immediate"}
    ),
    Event(EventType.STATE, "mix", 4, at(4.5), {"state": "paused", "previous": "running"}),
    Event(EventType.REQUEST, "mix", 5, at(10), {"request": "resume", "by": "bob"}),
    Event(EventType.LOCATION, "mix", 6, at(11), {"location": {"cycle": 2}, "point": 2}),
]


def store_runs(data: Path, *runs: tuple[RunRecord, list[Event]]) -> None:
    data.mkdir(exist_ok=True)

    async def write(store: RunStore, run_id: str, events: list[Event]) -> None:
        async with store.writer(run_id) as writer:
            for event in events:
                writer.write(event)

    with RunStore.open(data / DATABASE_NAME) as store:
        for run, events in runs:
            store.create_run(run)
            asyncio.run(write(store, run.id, events))


@pytest.fixture
def data(tmp_path):
    data = tmp_path / "data"
    pcr = record(
        "r-pcr",
        status=RunState.HALTED,
        started=at(0.1),
        ended=at(62.1),
        steps={
            "mix": StepResult(
                state=StepState.COMPLETED, started=at(0.1), ended=at(5.1), result={"ok": True}
            ),
            "heat": StepResult(state=StepState.FAILED, started=at(5.1), error="pump stalled"),
        },
    )
    wash = record(
        "r-wash",
        protocol_name="wash",
        started_by="carol",
        status=RunState.RUNNING,
        created=START + timedelta(days=1),
        started=START + timedelta(days=1),
    )
    store_runs(data, (pcr, PCR_EVENTS), (wash, []))
    return data


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_the_latest_runs_first_in_a_table(data, capsys):
    assert run(capsys, "runs", "list", "--data-dir", str(data)) == (
        0,
        "RUN     PROTOCOL   STATUS   BY     CREATED              DURATION  EVENTS\n"
        "r-wash  wash       running  carol  2026-01-02 09:00:00  -         0\n"
        "r-pcr   pcr-setup  halted   alice  2026-01-01 09:00:00  1:02:00   6\n",
        "",
    )


def test_list_filters_by_status_and_limits(data, capsys):
    code, out, _ = run(capsys, "runs", "list", "--data-dir", str(data), "--status", "halted")
    assert [line.split()[0] for line in out.splitlines()] == ["RUN", "r-pcr"]
    code, out, _ = run(capsys, "runs", "list", "--data-dir", str(data), "--limit", "1")
    assert [line.split()[0] for line in out.splitlines()] == ["RUN", "r-wash"]
    code, out, _ = run(capsys, "runs", "list", "--data-dir", str(data), "--status", "paused")
    assert (code, out) == (0, "no runs recorded with status paused\n")


def test_the_data_directory_comes_from_the_environment_too(data, capsys, monkeypatch):
    monkeypatch.setenv("LABRUN_DATA_DIR", str(data))
    code, out, _ = run(capsys, "runs", "list")
    assert code == 0
    assert "r-pcr" in out


def test_list_in_a_new_data_directory_says_there_are_no_runs(tmp_path, capsys):
    data = tmp_path / "new"
    assert run(capsys, "runs", "list", "--data-dir", str(data)) == (0, "no runs recorded\n", "")
    assert os.listdir(data) == []


def test_show_gives_summary_steps_diagnostics_and_operator_actions(data, capsys):
    code, out, err = run(capsys, "runs", "show", "r-pcr", "--data-dir", str(data))
    assert (code, err) == (0, "")
    assert out == (
        "run r-pcr\n"
        "  protocol    pcr-setup\n"
        "  status      halted\n"
        "  started by  alice\n"
        "  created     2026-01-01 09:00:00\n"
        "  started     2026-01-01 09:00:06\n"
        "  ended       2026-01-01 10:02:06\n"
        "  duration    1:02:00\n"
        '  parameters  {"cycles": 30}\n'
        "  events      6\n"
        "\n"
        "steps\n"
        "  STEP  STATE      STARTED              DURATION  OUTCOME\n"
        '  mix   completed  2026-01-01 09:00:06  0:05:00   {"ok": true}\n'
        "  heat  failed     2026-01-01 09:05:06  -         error: pump stalled\n"
        "\n"
        "diagnostics\n"
        "  TIME                 LEVEL    STEP  MESSAGE\n"
        "  2026-01-01 09:03:00  warning  mix   temperature drifted by 0.4 K\n"
        "\n"
        "operator actions\n"
        "  TIME                 BY   REQUEST  STEP  DETAILS\n"
        '  2026-01-01 09:04:00  bob  pause    mix   {"mode": "immediate"}\n'
        "  2026-01-01 09:10:00  bob  resume   mix\n"
    )


def test_show_says_none_for_empty_sections(data, capsys):
    code, out, _ = run(capsys, "runs", "show", "r-wash", "--data-dir", str(data))
    assert code == 0
    assert out.endswith("\nsteps\n  none\n\ndiagnostics\n  none\n\noperator actions\n  none\n")


@pytest.mark.parametrize("action", ["show", "export"])
def test_an_unknown_run_is_a_clear_error(data, tmp_path, capsys, action):
    code, out, err = run(capsys, "runs", action, "r-nope", "--data-dir", str(data))
    assert (code, out) == (2, "")
    assert "no run 'r-nope'" in err
    assert "labrun runs list" in err
    assert "Traceback" not in err
    code, out, err = run(capsys, "runs", action, "r-nope", "--data-dir", str(tmp_path / "new"))
    assert (code, out) == (2, "")
    assert "no run 'r-nope'" in err


def test_export_json_holds_the_run_record_and_every_event(data, capsys):
    code, out, _ = run(capsys, "runs", "export", "r-pcr", "--data-dir", str(data))
    assert code == 0
    exported = json.loads(out)
    with RunStore.open(data / DATABASE_NAME, readonly=True) as store:
        assert RunRecord.model_validate(exported["run"]) == store.get_run("r-pcr")
    assert [Event.from_json(json.dumps(event)) for event in exported["events"]] == PCR_EVENTS


def test_export_json_of_a_run_without_events(data, capsys):
    code, out, _ = run(
        capsys, "runs", "export", "r-wash", "--format", "json", "--data-dir", str(data)
    )
    assert code == 0
    assert json.loads(out)["events"] == []


def test_export_csv_has_one_row_per_event(data, capsys):
    code, out, _ = run(
        capsys, "runs", "export", "r-pcr", "--format", "csv", "--data-dir", str(data)
    )
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["seq", "time", "type", "step", "payload"]
    assert [
        Event(EventType(kind), step, int(seq), datetime.fromisoformat(moment), json.loads(payload))
        for seq, moment, kind, step, payload in rows[1:]
    ] == PCR_EVENTS


AGES = {"20m": 20, "40m": 40, "11h": 11 * 60, "13h": 13 * 60, "8d": 8 * 1440, "15d": 15 * 1440}


@pytest.fixture
def aged(tmp_path):
    """Runs that ended the given ages ago, and a running one started long ago."""
    data = tmp_path / "aged"
    now = datetime.now(UTC)
    runs = [
        (record(name, ended=now - timedelta(minutes=minutes)), []) for name, minutes in AGES.items()
    ]
    runs.append((record("running", status=RunState.RUNNING, started=now - timedelta(days=400)), []))
    store_runs(data, *runs)
    return data


def remaining(data: Path) -> set[str]:
    with RunStore.open(data / DATABASE_NAME, readonly=True) as store:
        return {run.id for run in store.list_runs(limit=100)}


@pytest.mark.parametrize(
    ("age", "removed"),
    [
        ("30m", {"40m", "11h", "13h", "8d", "15d"}),
        ("30 min", {"40m", "11h", "13h", "8d", "15d"}),
        ("12h", {"13h", "8d", "15d"}),
        ("1.5 h", {"11h", "13h", "8d", "15d"}),
        ("1w", {"8d", "15d"}),
        ("2w", {"15d"}),
        ("10d", {"15d"}),
        ("10 days", {"15d"}),
        ("90d", set()),
    ],
)
def test_prune_yes_removes_the_runs_finished_before_the_age(aged, capsys, age, removed):
    code, out, _ = run(
        capsys, "runs", "prune", "--older-than", age, "--yes", "--data-dir", str(aged)
    )
    assert code == 0
    assert remaining(aged) == {*AGES, "running"} - removed
    if removed:
        assert {line.split()[0] for line in out.splitlines()[1:-1]} == removed
        assert out.splitlines()[-1].startswith(f"removed {len(removed)} run")
    else:
        assert "nothing to remove" in out


@pytest.mark.parametrize("flag", [[], ["--dry-run"]], ids=["default", "dry run"])
def test_prune_without_yes_only_lists(aged, capsys, flag):
    code, out, _ = run(
        capsys, "runs", "prune", "--older-than", "12h", *flag, "--data-dir", str(aged)
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[0] == "RUN"
    assert {line.split()[0] for line in lines[1:-1]} == {"13h", "8d", "15d"}
    assert lines[-1].startswith("would remove 3 runs that ended before ")
    assert lines[-1].endswith("run again with --yes to remove them") == (not flag)
    assert remaining(aged) == {*AGES, "running"}


@pytest.mark.parametrize("age", ["soon", "5 kg", "-3d", "3", "", "1e9 years"])
def test_prune_refuses_an_age_it_cannot_read(aged, capsys, age):
    with pytest.raises(SystemExit) as exited:
        main(["runs", "prune", f"--older-than={age}", "--data-dir", str(aged)])
    assert exited.value.code == 2
    assert "is not an age such as 90d, 12h, 30m or 2w" in capsys.readouterr().err


def test_prune_takes_dry_run_or_yes_not_both(aged, capsys):
    with pytest.raises(SystemExit):
        main(["runs", "prune", "--older-than", "1d", "--dry-run", "--yes", "--data-dir", str(aged)])
    assert remaining(aged) == {*AGES, "running"}


@pytest.mark.parametrize(
    "argv", [["list"], ["show", "r-1"], ["prune", "--older-than", "1d", "--yes"]]
)
def test_a_store_it_cannot_read_is_a_clear_error_and_left_untouched(tmp_path, capsys, argv):
    data = tmp_path / "data"
    data.mkdir()
    database = data / DATABASE_NAME
    database.write_text("not a database\n")
    code, out, err = run(capsys, "runs", *argv, "--data-dir", str(data))
    assert (code, out) == (2, "")
    assert err.startswith(f"labrun: error: {database} is not a labrun run store")
    assert database.read_text() == "not a database\n"


def test_a_data_directory_that_cannot_be_made_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = run(capsys, "runs", "list", "--data-dir", str(blocker / "data"))
    assert (code, out) == (2, "")
    assert err.startswith(f"labrun: error: cannot use {blocker / 'data'} (--data-dir)")
