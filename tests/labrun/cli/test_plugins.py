"""`labrun plugins`, including plugins installed the way a third party installs them.

The projects under tests/fixtures/plugins/ are built and installed with uv into a temporary
directory, once per session; `labrun` then runs in a subprocess with that directory on
PYTHONPATH, so discovery goes through importlib.metadata exactly as for a pip install.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from labrun import LoadDiagnostic, Plugin, PluginCatalog, ProcessContext, Temperature, Time
from labrun.cli import main

FIXTURES = Path(__file__).parents[2] / "fixtures" / "plugins"
BROKEN = ("acme_broken_import", "acme_bad_process", "acme_not_a_plugin")

TIMER_LINES = [
    "timer - Waiting for a duration.",
    "  timer.wait(duration: time (required))",
    "      Wait for a duration; pausable, and a pause keeps the remaining time.",
]
PROMPT_LINES = [
    "prompt - Questions to the operator.",
    "  prompt.ask(message: str (required), choices: list[str] | None (default None), "
    "unit: str | None (default None), minimum: float | None (default None), "
    "maximum: float | None (default None))",
    "      Ask the operator; the accepted answer is the step's result.",
]
ACME_LINES = [
    "acme - Acme syringe pumps.",
    "  acme.dispense(volume: volume (required), rate: flow rate (default '1 ml/min'))",
    "      Dispense a volume at a flow rate.",
]
BROKEN_LINES = [
    "  acme_bad: process 'blocking': blocking is not an async function (declare it with async def)",
    "  acme_bad: process 'unannotated': the argument 'data' of unannotated has no annotation",
    "  acme_bad: process 'twice': duplicate process name 'twice'",
    "  acme_broken: failed to import acme_broken_import:plugin: "
    "RuntimeError: the acme driver library is not installed",
    "  acme_not: acme_not_a_plugin:create_plugin is a function, not a labrun Plugin",
]


# The output shape, on a catalog made for the test.


class HeatArgs(BaseModel):
    target: Temperature
    hold: Time = Field(default="10 min", validate_default=True)


class NoArgs(BaseModel):
    pass


async def heat(data: HeatArgs, context: ProcessContext[HeatArgs]) -> None:
    """Heat to a target.

    More detail that the listing leaves out.
    """


async def mix(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    pass


def made_catalog(*diagnostics: LoadDiagnostic) -> PluginCatalog:
    lab = Plugin("lab", description="Lab things.")
    lab.process("mix")(mix)
    lab.process("heat")(heat)
    return PluginCatalog({"lab": lab, "bare": Plugin("bare")}, diagnostics)


def test_lists_each_plugin_its_processes_and_their_arguments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("labrun.cli.plugins.load_plugins", made_catalog)

    assert main(["plugins"]) == 0

    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "bare",
        "lab - Lab things.",
        "  lab.heat(target: temperature (required), hold: time (default '10 min'))",
        "      Heat to a target.",
        "  lab.mix(no arguments)",
    ]
    assert err == ""


def test_load_problems_follow_the_list_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    diagnostics = (
        LoadDiagnostic("broken", "failed to import broken:plugin: RuntimeError: no driver"),
        LoadDiagnostic("other", "other:thing is a str, not a labrun Plugin"),
    )
    monkeypatch.setattr("labrun.cli.plugins.load_plugins", lambda: made_catalog(*diagnostics))

    assert main(["plugins"]) == 1

    out, _ = capsys.readouterr()
    assert out.splitlines()[-4:] == [
        "",
        "plugins that failed to load:",
        "  broken: failed to import broken:plugin: RuntimeError: no driver",
        "  other: other:thing is a str, not a labrun Plugin",
    ]


def test_lists_the_built_in_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    main(["plugins"])
    lines = capsys.readouterr().out.splitlines()
    assert_block(lines, TIMER_LINES)
    assert_block(lines, PROMPT_LINES)


def assert_block(lines: list[str], block: list[str]) -> None:
    """`block` appears in `lines` as consecutive lines."""
    assert block[0] in lines, f"{block[0]!r} not in the output:\n" + "\n".join(lines)
    start = lines.index(block[0])
    assert lines[start : start + len(block)] == block


# Installed packages, discovered through their entry points.


@dataclass(frozen=True)
class Site:
    """Directories holding installed fixture plugins, to put on PYTHONPATH."""

    good: Path
    broken: Path


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    # `uv run` sets UV to its own executable; CI's uv lives in .tools/bin, not on PATH.
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv not found: run the tests with `uv run pytest` (scripts/test does)")
    root = tmp_path_factory.mktemp("site")
    site = Site(good=root / "good", broken=root / "broken")
    install(uv, site.good, "acme_good")
    install(uv, site.broken, *BROKEN)
    return site


def install(uv: str, target: Path, *projects: str) -> None:
    # Offline and against the venv's hatchling; no cache, as uv's cache of a local project
    # is keyed on its pyproject.toml and would go on serving a stale build after an edit.
    command = [
        uv,
        "pip",
        "install",
        "--python",
        sys.executable,
        "--offline",
        "--no-cache",
        "--no-deps",
        "--no-build-isolation",
        "--quiet",
        "--target",
        str(target),
        *(str(FIXTURES / project) for project in projects),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"installing {', '.join(projects)} failed:\n{result.stderr}")


def labrun(
    *args: str, path: list[Path], cwd: Path, script: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run labrun in a fresh interpreter with `path` on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "LABRUN_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    if script:
        executable = shutil.which("labrun", path=str(Path(sys.executable).parent))
        assert executable is not None, "the labrun console script is not installed in the venv"
        command = [executable, *args]
    else:
        command = [sys.executable, "-m", "labrun", *args]
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def test_an_installed_third_party_plugin_is_discovered(site: Site, tmp_path: Path) -> None:
    result = labrun("plugins", path=[site.good], cwd=tmp_path, script=True)

    lines = result.stdout.splitlines()
    assert_block(lines, ACME_LINES)
    assert_block(lines, TIMER_LINES)
    assert_block(lines, PROMPT_LINES)
    assert "plugins that failed to load:" not in lines
    assert result.stderr == ""
    assert result.returncode == 0


def test_broken_plugins_are_each_reported_and_the_others_still_load(
    site: Site, tmp_path: Path
) -> None:
    result = labrun("plugins", path=[site.good, site.broken], cwd=tmp_path)

    lines = result.stdout.splitlines()
    assert_block(lines, ACME_LINES)
    assert_block(lines, TIMER_LINES)
    assert_block(lines, PROMPT_LINES)
    assert_block(lines, ["", "plugins that failed to load:", *BROKEN_LINES])
    assert lines[-len(BROKEN_LINES) :] == BROKEN_LINES
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1


def test_a_discovered_process_runs(site: Site, tmp_path: Path) -> None:
    result = labrun(
        "process", "acme.dispense", "volume=5 ml", "--dry-run", path=[site.good], cwd=tmp_path
    )

    lines = result.stdout.splitlines()
    assert lines[0] == "+00:00:00 state      running"
    assert "+00:05:00 effect      effect={dispensed: 5 ml}" in lines
    assert lines[-1] == "+00:05:00 state      completed result=null"
    assert result.returncode == 0, result.stderr
