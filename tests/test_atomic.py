"""Atomic writes: never half-written, and as readable as an ordinary write (the umask decides)."""

import os
import stat

import pytest

from vaekit.io import atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_get_the_mode_of_an_ordinary_write(tmp_path, umask):
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    atomic.write_text(tmp_path / "run" / "config.json", "{}")
    with atomic.atomic_path(tmp_path / "run" / "x.npy") as tmp, open(tmp, "wb") as fh:
        fh.write(b"data")
    assert _mode(tmp_path / "plain.txt") == 0o666 & ~umask
    assert _mode(tmp_path / "run" / "config.json") == _mode(tmp_path / "run" / "x.npy") == 0o666 & ~umask


def test_folders_get_the_mode_of_an_ordinary_mkdir(tmp_path, umask):
    (tmp_path / "plain").mkdir()
    with atomic.atomic_dir(tmp_path / "images") as tmp:
        (tmp / "0.png").write_bytes(b"png")
    assert _mode(tmp_path / "images") == _mode(tmp_path / "plain") == 0o777 & ~umask
    assert (tmp_path / "images" / "0.png").read_bytes() == b"png"


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.jsonl"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic.atomic_dir(tmp_path / "images") as tmp:
        (tmp / "0.png").write_bytes(b"png")
        raise RuntimeError
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_a_folder_replaces_only_an_empty_one(tmp_path):
    (tmp_path / "empty").mkdir()
    with atomic.atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "a").write_text("a")
    assert (tmp_path / "empty" / "a").is_file()
    with pytest.raises(OSError), atomic.atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "b").write_text("b")
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
