"""What can go wrong with the run store, each naming the database file and what to do."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The run store at `path` cannot do what was asked; the message says why."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class StoreUnreadable(StoreError):
    """The file is not a labrun run store, or it is damaged. It is left as it is."""


class StoreTooNew(StoreError):
    """The run store was written by a newer labrun. It is left as it is."""

    def __init__(self, path: Path, version: int, supported: int) -> None:
        super().__init__(
            path,
            f"{path} holds run store schema version {version}, but this labrun reads up to "
            f"version {supported}: upgrade labrun, or use another data directory",
        )
        self.version = version
        self.supported = supported


class UnknownRun(StoreError):
    def __init__(self, path: Path, run_id: str) -> None:
        super().__init__(path, f"no run {run_id!r} in {path}")
        self.run_id = run_id


class BacklogFull(StoreError):
    """Too many events wait to be written. The event was not taken; nothing was dropped.

    The writer stays usable: once `await writer.flush()` returns, write the same event again.
    """


class WriterFailed(StoreError):
    """Writing events failed (disk full, I/O error, database locked too long).

    Events accepted before the failure but not yet committed are lost, so every later write
    and flush raises this too: the run's record cannot be completed by this store any more.
    """
