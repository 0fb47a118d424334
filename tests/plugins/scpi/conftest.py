"""Fixtures for the scpi plugin's tests (their support code is in scpi_bench.py)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from scpi_bench import Bench


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path)
    try:
        yield bench
    finally:
        await bench.close()
