"""Where labrun keeps its data: `--data-dir`, else `LABRUN_DATA_DIR`, else the user's data
directory (such as ~/.local/share/labrun on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "LABRUN_DATA_DIR"


class DataDirError(Exception):
    """The data directory cannot be created or used."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def data_dir(explicit: Path | None = None) -> Path:
    """The data directory, created if needed: `explicit`, else $LABRUN_DATA_DIR, else the
    platform's user data directory."""
    if explicit is not None:
        path, source = explicit, "--data-dir"
    elif os.environ.get(ENV_VAR):
        path, source = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        path, source = Path(platformdirs.user_data_dir("labrun")), "the default"
    path = path.expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise DataDirError(
            path,
            f"cannot use {path} ({source}) as the data directory: {reason}; "
            f"choose another with --data-dir or {ENV_VAR}",
        ) from error
    return path
