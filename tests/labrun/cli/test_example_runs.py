"""Every example protocol that uses instruments runs to completion as a dry run on the
simulated bench, and leaves its devices safe."""

import io
import sys
from pathlib import Path

import pytest

from labrun.cli import main
from labrun.protocol import compile

ROOT = Path(__file__).parents[3]
# The answers the examples' prompts need, by protocol.
ANSWERS = {"infusion_study.yml": ["-a", "inspect=clear"]}
WITH_DEVICES = [
    path
    for path in sorted((ROOT / "protocols").glob("*.yml"))
    if (protocol := compile(path).protocol) is not None and protocol.devices
]


def test_the_instrument_examples_are_found():
    assert {p.name for p in WITH_DEVICES} >= {
        "syringe_prime.yml",
        "block_temperature.yml",
        "voltage_sweep.yml",
        "cryostat_ramp.yml",
        "infusion_study.yml",
    }


@pytest.mark.parametrize("path", WITH_DEVICES, ids=lambda path: path.name)
def test_an_instrument_example_runs_dry_on_the_simulated_bench(path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delenv("LABRUN_CONFIG", raising=False)
    code = main(["run", str(path), "--dry-run", *ANSWERS.get(path.name, [])])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    devices = ", ".join(sorted(set(compile(path).protocol.devices.values())))
    assert f"safe state applied to {devices} (the run completed)" in out.out
    assert out.out.splitlines()[-1].startswith("dry run completed after ")
