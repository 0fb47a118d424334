"""Where the data directory is: --data-dir, else LABRUN_DATA_DIR, else the user's default."""

from pathlib import Path

import platformdirs
import pytest

from labrun.datadir import DataDirError, data_dir


@pytest.fixture
def default(tmp_path, monkeypatch):
    default = tmp_path / "default" / "labrun"
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda appname: str(default))
    monkeypatch.delenv("LABRUN_DATA_DIR", raising=False)
    return default


def test_the_default_is_the_user_data_directory_created_on_demand(default):
    assert not default.exists()
    assert data_dir() == default
    assert default.is_dir()


def test_the_environment_overrides_the_default(default, tmp_path, monkeypatch):
    monkeypatch.setenv("LABRUN_DATA_DIR", str(tmp_path / "from-env"))
    assert data_dir() == tmp_path / "from-env"
    assert (tmp_path / "from-env").is_dir()
    assert not default.exists()


def test_an_empty_environment_variable_counts_as_unset(default, monkeypatch):
    monkeypatch.setenv("LABRUN_DATA_DIR", "")
    assert data_dir() == default


def test_an_explicit_directory_overrides_the_environment(default, tmp_path, monkeypatch):
    monkeypatch.setenv("LABRUN_DATA_DIR", str(tmp_path / "from-env"))
    assert data_dir(tmp_path / "explicit" / "nested") == tmp_path / "explicit" / "nested"
    assert (tmp_path / "explicit" / "nested").is_dir()
    assert not (tmp_path / "from-env").exists()


def test_a_home_directory_is_expanded(default, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir(Path("~/lab")) == tmp_path / "lab"


@pytest.mark.parametrize("source", ["--data-dir", "LABRUN_DATA_DIR"])
def test_a_directory_that_cannot_be_created_is_a_clear_error(
    default, tmp_path, monkeypatch, source
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    wanted = blocker / "data"
    if source == "LABRUN_DATA_DIR":
        monkeypatch.setenv("LABRUN_DATA_DIR", str(wanted))
    with pytest.raises(DataDirError) as raised:
        data_dir(wanted if source == "--data-dir" else None)
    assert raised.value.path == wanted
    assert str(raised.value).startswith(f"cannot use {wanted} ({source}) as the data directory: ")
    assert str(raised.value).endswith("choose another with --data-dir or LABRUN_DATA_DIR")
